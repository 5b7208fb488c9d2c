"""The web app: its plain functions in-process, then serve.py through the Gradio API."""

from __future__ import annotations

import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import serve
from app.web import (
    Limits,
    OutputFolders,
    RequestError,
    check_media,
    clock,
    cue_rows,
    page_layout,
    score_uploads,
)
from app.web_janitor import Janitor
from data.media import load_audio
from data.shot_changes import ShotChanges
from data.subtitles import Cue, read_subtitles, write_subtitles
from tests.media_factory import (
    make_audio,
    make_text,
    make_truncated,
    make_understated_aac,
    make_video,
    tone,
)
from tests.web_server import ROOT, running_server

JFK = ROOT / "examples" / "jfk.mp4"
EXPECTED_WORDS = ("fellow Americans", "your country")
REFERENCE = [
    Cue(0.0, 8.0, "And so, my fellow Americans, ask not what your country can do for you,"),
    Cue(8.0, 11.0, "ask what you can do for your country."),
]


# ------------------------------------------------------------------- plain functions


def test_serve_binds_to_localhost_unless_told_otherwise():
    args = serve.parse_args([])
    assert (args.host, args.port, args.concurrency) == ("127.0.0.1", 7860, 1)
    assert serve.parse_args(["--host", "0.0.0.0"]).host == "0.0.0.0"


@pytest.mark.parametrize(
    "bad", [["--concurrency", "0"], ["--max-file-mb", "0"], ["--port", "70000"]]
)
def test_serve_refuses_bad_options(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        serve.parse_args(bad)
    assert exit_info.value.code == 2
    assert bad[0] in capsys.readouterr().err


def test_check_media_accepts_a_good_file(tmp_path):
    video = make_video(tmp_path / "clip.mp4", 2.0, audio=tone(440, 2.0))
    info = check_media(video, Limits())
    assert info.has_audio and info.has_video
    assert info.duration == pytest.approx(2.0, abs=0.1)


def test_check_media_refuses_a_file_over_the_size_limit(tmp_path):
    video = make_video(tmp_path / "clip.mp4", 2.0, audio=tone(440, 2.0))
    limit_mb = os.path.getsize(video) / 2**20 / 2
    with pytest.raises(RequestError, match=r"^clip\.mp4: .* over this server's limit of .* MB$"):
        check_media(video, Limits(max_file_mb=limit_mb))


def test_check_media_refuses_media_over_the_duration_limit(tmp_path):
    video = make_video(tmp_path / "clip.mp4", 3.0, audio=tone(440, 3.0))
    with pytest.raises(
        RequestError,
        match=r"^clip\.mp4: (more than )?[\d.]+ minutes is over this server's limit of 0\.02 minutes$",
    ):
        check_media(video, Limits(max_minutes=0.02))


@pytest.mark.parametrize(
    "make, reason", [(make_text, "not a media file"), (make_truncated, "truncated or corrupt")]
)
def test_check_media_names_the_upload_never_the_server_folder(tmp_path, make, reason):
    bad = make(tmp_path / "upload.mp4")
    with pytest.raises(RequestError) as error:
        check_media(bad, Limits())
    message = str(error.value)
    assert message.startswith(f"upload.mp4: {reason}")
    assert str(tmp_path) not in message and "\n" not in message


def test_clock_and_cue_rows():
    assert clock(0) == "00:00:00.000"
    assert clock(3723.4567) == "01:02:03.457"
    assert cue_rows([Cue(1.5, 2.25, "two\nlines")]) == [
        ["00:00:01.500", "00:00:02.250", "two lines", "", ""]
    ]
    shown = cue_rows([Cue(0.0, 1.0, "Kubernetes pods.", ("Kubernetes", "nodeAffinity"))])
    assert shown[0][4] == "Kubernetes, nodeAffinity"
    cues = [Cue(1.0, 1.917, "One."), Cue(2.0, 3.5, "Two."), Cue(3.6, 4.0, "Three.")]
    marks = [row[3] for row in cue_rows(cues, ShotChanges(24.0, (2.0, 3.0)))]
    assert marks == ["ends before a cut", "starts on a cut; a cut at 3.00 s inside", ""]


def test_output_folders_are_fresh_and_stale_ones_are_removed(tmp_path):
    folders = OutputFolders(tmp_path / "outputs", keep_seconds=60)
    first, second = folders.new(), folders.new()
    assert first != second and first.parent == second.parent == tmp_path / "outputs"
    hour_ago = time.time() - 3600
    os.utime(first, (hour_ago, hour_ago))
    third = folders.new()
    assert not first.exists() and second.exists() and third.exists()


def test_score_uploads_shows_file_names_and_cue_pairs(tmp_path):
    hyp = write_subtitles(
        [
            Cue(0.0, 7.7, "And so my fellow Americans ask not what your country can do for you"),
            Cue(7.7, 10.7, "ask what you can do for our country"),
        ],  # fmt: skip
        tmp_path / "uploads" / "hyp.srt",
    )
    ref = write_subtitles(REFERENCE, tmp_path / "uploads" / "ref.vtt")
    table, pairs, report_path = score_uploads(hyp, ref, tmp_path / "out")
    assert "| hyp.srt |" in table and "WER" in table and str(tmp_path) not in table
    assert pairs["headers"][2:] == ["reference", "hypothesis words in that time"]
    assert [row[2] for row in pairs["data"]] == [cue.text for cue in REFERENCE]
    assert "our country" in pairs["data"][1][3]
    report = json.loads(Path(report_path).read_text())
    assert report["files"][0]["hyp"] == "hyp.srt" and 0 < report["corpus"]["wer"] < 20


def test_score_uploads_pairs_caption_sets_by_id(tmp_path):
    hyp, ref = tmp_path / "hyp.json", tmp_path / "ref.json"
    hyp.write_text(json.dumps({"v1": "a man is cooking", "v2": "a dog runs"}))
    ref.write_text(json.dumps({"v1": ["a man cooks food", "someone is cooking"], "v2": ["a dog"]}))
    # METEOR (a Java start of about 20 s) is left out; its wiring is evaluation/'s to test.
    table, pairs, _ = score_uploads(hyp, ref, tmp_path / "out", ["bleu4", "cider"])
    assert "BLEU-4" in table and "CIDEr-D" in table and "METEOR" not in table
    assert pairs["headers"] == ["id", "hypothesis", "references"]
    assert pairs["data"][0] == ["v1", "a man is cooking", "a man cooks food | someone is cooking"]


def test_score_uploads_error_names_the_upload(tmp_path):
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:01 --> 00:00:02\nhello\n")
    ref = write_subtitles(REFERENCE, tmp_path / "ref.srt")
    with pytest.raises(RequestError, match=r"^bad\.srt:2: ") as error:
        score_uploads(bad, ref, tmp_path / "out")
    assert str(tmp_path) not in str(error.value)


# ---------------------------------------------------------------- through the server

MAX_FILE_MB = 3
MAX_WAITING, PER_CLIENT = 4, 3


@pytest.fixture(scope="module")
def server():
    # Two requests at once share the model; the next MAX_WAITING wait in the queue.
    options = ["--concurrency", "2", "--max-file-mb", str(MAX_FILE_MB), "--max-minutes", "10"]
    options += ["--max-waiting", str(MAX_WAITING), "--per-client", str(PER_CLIENT)]
    with running_server(*options) as running:
        yield running


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("client-downloads")  # not gradio_client's /tmp/gradio


def new_client(server, downloads) -> Client:
    return Client(server.url, verbose=False, download_files=downloads)


@pytest.fixture(scope="module")
def client(server, downloads):
    return new_client(server, downloads)


def subtitle_jfk(client: Client) -> tuple:
    return client.predict(handle_file(str(JFK)), beam_size=1, api_name="/subtitle")


def assert_jfk_result(result: tuple) -> None:
    video, status, table, downloads = result
    assert video["subtitles"].endswith("jfk.vtt") and video["value"].endswith("jfk.mp4")
    assert status.startswith(f"{len(table['data'])} cue")
    assert [Path(path).name for path in downloads] == ["jfk.srt", "jfk.vtt", "jfk.json"]
    srt = Path(downloads[0]).read_text()
    cue_text = " ".join(row[2] for row in table["data"])
    for words in EXPECTED_WORDS:
        assert words in " ".join(srt.split()) and words in cue_text
    assert [cue.text.replace("\n", " ") for cue in read_subtitles(downloads[0])] == [
        row[2] for row in table["data"]
    ]


def test_subtitle_endpoint_gives_the_speech_as_srt_vtt_and_json(client):
    assert_jfk_result(subtitle_jfk(client))


def test_subtitle_endpoint_follows_the_layout_controls(client):
    result = client.predict(
        handle_file(str(JFK)), beam_size=1, line_width=24, max_duration=3, api_name="/subtitle"
    )
    cues = read_subtitles(result[3][0])
    assert len(cues) >= 4  # 11 s of speech, at most 3 s a cue
    for cue in cues:
        assert cue.end - cue.start <= 3.001 and all(
            len(line) <= 24 for line in cue.text.split("\n")
        )


def test_page_layout_checks_what_an_api_caller_sends():
    assert page_layout(42, None, None) == page_layout(42, 20, 7)
    assert page_layout(30, 15, 5).max_cps == 15.0
    with pytest.raises(RequestError, match="at least 10 characters per line"):
        page_layout(5, 20, 7)
    with pytest.raises(
        RequestError, match="max duration 0.5 must be at least the minimum duration"
    ):
        page_layout(42, 20, 0.5)


def test_bad_uploads_get_a_one_line_error_and_the_server_keeps_serving(client, tmp_path):
    not_media = make_text(tmp_path / "notes.mp4")
    truncated = make_truncated(tmp_path / "cut.mp4")
    text_file = make_text(tmp_path / "notes.txt")
    for upload, message in [
        (not_media, "notes.mp4: not a media file"),
        (truncated, "cut.mp4: truncated or corrupt"),
        (text_file, "notes.txt: invalid file type"),
    ]:
        with pytest.raises(AppError) as error:
            client.predict(handle_file(upload), beam_size=1, api_name="/subtitle")
        assert message in str(error.value) and str(tmp_path) not in str(error.value)
    assert_jfk_result(subtitle_jfk(client))


def test_a_damaged_upload_is_subtitled_as_far_as_it_goes_and_said_to_be_damaged(client, tmp_path):
    cut = tmp_path / "jfk-cut.mp4"  # jfk.mp4 keeps its index first: a cut leaves 7 s
    data = JFK.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    _, status, table, downloads = client.predict(
        handle_file(str(cut)), beam_size=1, api_name="/subtitle"
    )
    assert (
        "**`jfk-cut.mp4` is damaged: " in status and "audio ends at 7.2 s of the 11.0 s" in status
    )
    assert "fellow Americans" in " ".join(row[2] for row in table["data"])
    assert max(cue.end for cue in read_subtitles(downloads[0])) <= 7.3  # nothing past the cut


def test_uploads_over_the_size_limit_are_refused(server, downloads, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom((MAX_FILE_MB + 1) * 2**20))
    with big.open("rb") as data:
        response = httpx.post(f"{server.url}gradio_api/upload", files={"files": ("big.mp4", data)})
    assert response.status_code == 413
    assert response.json()["detail"] == f"upload: over this server's limit of {MAX_FILE_MB} MB"
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        new_client(server, downloads).predict(handle_file(str(big)), api_name="/subtitle")


def test_simultaneous_uploads_all_complete(server, downloads):
    # Three users, each with their own download folder so they never write the same file.
    clients = [new_client(server, downloads / f"user{number}") for number in range(3)]
    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(subtitle_jfk, clients))
    for result in results:
        assert_jfk_result(result)


def test_only_files_the_server_wrote_are_served(server):
    for path in ("/etc/passwd", str(ROOT / "serve.py"), str(JFK)):
        response = httpx.get(f"{server.url}gradio_api/file={path}")
        assert response.status_code == 403, path
    # A file path the client did not upload is refused before our function runs.
    not_uploaded = {"path": str(JFK), "meta": {"_type": "gradio.FileData"}}
    call = httpx.post(
        f"{server.url}gradio_api/call/subtitle", json={"data": [not_uploaded, ["srt"], 1, 42, 1]}
    )
    events = httpx.get(
        f"{server.url}gradio_api/call/subtitle/{call.json()['event_id']}", timeout=60
    )
    assert events.text.startswith("event: error")
    assert "jfk.srt" not in events.text


def test_score_endpoint(client, tmp_path):
    hyp = write_subtitles(REFERENCE[:1], tmp_path / "mine.srt")
    ref = write_subtitles(REFERENCE, tmp_path / "theirs.srt")
    table, pairs, report_path = client.predict(
        handle_file(str(hyp)), handle_file(str(ref)), api_name="/score"
    )
    assert "| mine.srt |" in table and "WER" in table
    assert [row[3] for row in pairs["data"]] == [REFERENCE[0].text, ""]
    assert json.loads(Path(report_path).read_text())["corpus"]["wer"] > 0
    with pytest.raises(AppError, match="Upload both"):
        client.predict(handle_file(str(hyp)), None, api_name="/score")


def test_page_names_the_model_device_and_visual_branch(server):
    config = httpx.get(f"{server.url}config").json()
    texts = [c["props"].get("value") for c in config["components"] if c["type"] == "markdown"]
    summary = next(text for text in texts if text and "visual branch" in text)
    # serve.py's default is --model auto: the page names the models it chooses from.
    assert "**default** `auto`" in summary and "`tiny.en`" in summary and "`base`" in summary
    assert "**device** `cpu`" in summary and "inactive" in summary


# ------------------------------------------------------------ careless and hostile clients


class RawClient:
    """A client that speaks Gradio's queue protocol over raw HTTP from its own loopback
    address (127.0.0.N: a different client to the server), and can walk away."""

    def __init__(self, server, address: str):
        self.url = server.url
        self.http = httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)
        config = self.http.get(f"{self.url}config").json()
        self.fn_index = next(
            i for i, dep in enumerate(config["dependencies"]) if dep.get("api_name") == "subtitle"
        )
        self.session = os.urandom(8).hex()
        self.stream = None

    def upload(self, path) -> str:
        with open(path, "rb") as data:
            response = self.http.post(
                f"{self.url}gradio_api/upload", files={"files": (Path(path).name, data)}
            )
        return response.json()[0]

    def join(self, uploaded: str) -> httpx.Response:
        """Ask for /subtitle of an uploaded file; its events come on this client's stream."""
        media = {"path": uploaded, "orig_name": Path(uploaded).name,
                 "meta": {"_type": "gradio.FileData"}}  # fmt: skip
        body = {"data": [media, ["srt"], 1, 42, 1, 20, 7, "auto", "auto", "transcribe", "auto"], "fn_index": self.fn_index,
                "session_hash": self.session, "trigger_id": None, "event_data": None}  # fmt: skip
        response = self.http.post(f"{self.url}gradio_api/queue/join", json=body)
        if response.status_code == 200 and self.stream is None:
            self.stream = self.http.stream(
                "GET", f"{self.url}gradio_api/queue/data?session_hash={self.session}"
            )
            self.stream.__enter__()
        return response

    def walk_away(self) -> None:
        if self.stream is not None:
            self.stream.__exit__(None, None, None)
        self.http.close()


def queue_is_empty(server) -> bool:
    status = httpx.get(f"{server.url}gradio_api/queue/status").json()
    return status["queue_size"] == 0


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory):
    """About 2 minutes of speech (the JFK sentence 10 times), 0.9 MB of MP3: tens of seconds
    of work on a CPU, more than the next request should wait."""
    words = load_audio(JFK)
    return make_audio(tmp_path_factory.mktemp("long") / "long.mp3", np.tile(words, 10))


def test_a_duration_the_header_understates_is_refused(client, tmp_path):
    lying = make_understated_aac(tmp_path / "lying.aac", 11.7 * 60)
    with pytest.raises(AppError) as error:
        client.predict(handle_file(lying), beam_size=1, api_name="/subtitle")
    assert str(error.value).endswith(
        "lying.aac: 11.7 minutes is over this server's limit of 10 minutes"
    )


def test_queue_is_bounded_shared_per_client_and_abandoned_work_stops(server, client, long_speech):
    first, second, third = (RawClient(server, f"127.0.0.{n}") for n in (2, 3, 4))
    try:
        uploaded = first.upload(long_speech)
        # The first client's three requests: two run, one waits; a fourth is its share over.
        assert [first.join(uploaded).status_code for _ in range(PER_CLIENT)] == [200] * 3
        refused = first.join(uploaded)
        assert refused.status_code == 429 and "share per client" in refused.json()["detail"]
        # Three more wait: the queue is full and a third client is told the server is busy.
        assert [second.join(uploaded).status_code for _ in range(PER_CLIENT)] == [200] * 3
        busy = third.join(uploaded)
        assert busy.status_code == 503
        assert busy.json()["detail"].startswith(f"server busy: {MAX_WAITING} requests are waiting")
    finally:
        for raw in (first, second, third):
            raw.walk_away()
    # Both abandoned long requests stop; the next request runs about as fast as alone.
    started = time.monotonic()
    assert_jfk_result(subtitle_jfk(client))
    assert time.monotonic() - started < 15
    deadline = time.monotonic() + 20
    while not queue_is_empty(server) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert queue_is_empty(server)
    assert server.log().count("its client has gone") >= 2


@pytest.mark.parametrize(
    "data, reason",
    [
        ([None], "bad request: An event handler (on_subtitle) didn't receive enough input"),
        (
            [
                {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
                ["srt"],
                1,
                42,
                1,
                20,
                7,
                "auto",
                "auto",
                "transcribe",
                "auto",
            ],
            "bad request: Cannot move /etc/passwd",
        ),
        (
            [None, ["srt"], "five", 42, 1, 20, 7, "auto", "auto", "transcribe", "auto"],
            "bad request: Could not preprocess input",
        ),
    ],
)
def test_a_malformed_call_gets_one_line_and_logs_one_line(server, data, reason):
    log_before = server.log()
    call = httpx.post(f"{server.url}gradio_api/call/subtitle", json={"data": data})
    events = httpx.get(
        f"{server.url}gradio_api/call/subtitle/{call.json()['event_id']}", timeout=60
    )
    assert events.text.startswith("event: error")
    message = json.loads(events.text.split("data: ", 1)[1])["error"]
    assert message.startswith(reason) and "\n" not in message
    time.sleep(0.2)  # the log line is written as the answer is sent
    new_log = server.log()[len(log_before) :]
    assert "Traceback" not in new_log
    assert [line for line in new_log.splitlines() if line.strip()] == [
        f"serve.py: refused: {message}"
    ]


def drop_an_upload(server, size: int = 300_000) -> None:
    """Send the start of a multipart upload, then close the connection."""
    port = int(server.url.rstrip("/").rsplit(":", 1)[1])
    head = (
        b'--X\r\nContent-Disposition: form-data; name="files"; filename="part.mp4"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=X\r\n"
            + f"Content-Length: {2 * size}\r\n\r\n".encode()
            + head
            + os.urandom(size)
        )
        time.sleep(0.3)


def test_requests_and_dropped_uploads_leave_no_partial_or_empty_files(server, client, tmp_path):
    short = make_video(tmp_path / "beep.mp4", 1.0, audio=tone(440, 1.0))
    not_media = make_text(tmp_path / "notes.mp4")
    for number in range(30):
        if number % 6 == 5:
            drop_an_upload(server)
        if number % 3 == 2:
            with pytest.raises(AppError, match="notes.mp4: not a media file"):
                client.predict(handle_file(not_media), beam_size=1, api_name="/subtitle")
        else:
            # No speech: an SRT would be rightly empty; VTT and JSON have headers.
            client.predict(handle_file(short), ["vtt", "json"], beam_size=1, api_name="/subtitle")
    deadline = time.monotonic() + 10
    while any(server.uploads.glob("tmp*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    partial = [path.name for path in server.uploads.iterdir() if path.is_file()]
    empty = [
        str(path)
        for path in server.uploads.rglob("*")
        if path.is_file() and not path.stat().st_size
    ]
    assert partial == [] and empty == []
    assert server.log().count("upload dropped by") == 5


def test_janitor_sweeps_partials_empties_and_expired_files(tmp_path):
    uploads = tmp_path / "gradio"

    def put(relative: str, size: int = 10, age: float = 0.0) -> Path:
        path = uploads / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    folder = "a" * 64
    waiting = put(f"{'b' * 64}/waiting.mp4", age=7200)  # read by a queued request
    unused = put(f"{folder}/unused.mp4", age=700)  # uploaded, never used
    fresh = put(f"{'c' * 64}/fresh.mp4", age=60)
    used = put(f"{'d' * 64}/used.mp4", age=7000)  # uploaded long ago, used a minute ago
    output = put(f"{'e' * 64}/old.srt", age=4000)  # Gradio's copy of an output
    empty = put("tmpempty", size=0, age=10)  # what gr.File leaves per request
    partial = put("tmpdropped", age=10)
    writing = put("tmpwriting", age=10)
    outputs = OutputFolders(tmp_path / "outputs", keep_seconds=3600)
    old_request = outputs.new()
    os.utime(old_request, (time.time() - 4000, time.time() - 4000))
    janitor = Janitor(uploads, outputs, lambda: {str(waiting.resolve())})
    janitor.uploaded.update(str(path) for path in (waiting, unused, fresh, used))
    janitor.used(used)
    with open(writing, "ab"):  # an upload still being written is open
        janitor.sweep()
    kept = {path.name for path in uploads.rglob("*") if path.is_file()}
    assert kept == {"waiting.mp4", "fresh.mp4", "used.mp4", "tmpwriting"}
    assert not (uploads / folder).exists() and not old_request.exists()
    assert janitor.remove_partials() == 1 and not writing.exists()  # closed now
    assert not (partial.exists() or empty.exists() or output.exists())


def test_subtitle_endpoint_takes_model_language_and_task(client):
    """The page's Model, Language and Task controls: Mandarin by base, named in the status."""
    zh = ROOT / "examples" / "aishell1_BAC009S0764W0121.wav"
    _, status, table, downloads = client.predict(
        handle_file(str(zh)), beam_size=1, model_name="base", language="zh",
        task="transcribe", api_name="/subtitle",
    )  # fmt: skip
    assert "language `zh`" in status and "model `base`" in status
    assert table["data"] and "甚至" in table["data"][0][2]
    assert '"model": "base"' in Path(downloads[2]).read_text()  # the JSON names it
