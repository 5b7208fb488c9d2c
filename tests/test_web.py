"""The web app: its plain functions in-process, then serve.py through the Gradio API."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
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
from data.shot_changes import ShotChanges
from data.subtitles import Cue, read_subtitles, write_subtitles
from tests.media_factory import make_text, make_truncated, make_video, tone
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
        match=r"^clip\.mp4: [\d.]+ minutes is over this server's limit of 0\.02 minutes$",
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
        ["00:00:01.500", "00:00:02.250", "two lines", ""]
    ]
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

MAX_FILE_MB = 2


@pytest.fixture(scope="module")
def server():
    # Two requests at once share the model; a third waits in the queue.
    with running_server("--concurrency", "2", "--max-file-mb", str(MAX_FILE_MB)) as running:
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
    with pytest.raises(RequestError, match="cues must be allowed at least 0.83 s"):
        page_layout(42, 20, 0.5)


def test_bad_uploads_get_a_one_line_error_and_the_server_keeps_serving(client, tmp_path):
    not_media = make_text(tmp_path / "notes.mp4")
    truncated = make_truncated(tmp_path / "cut.mp4")
    text_file = make_text(tmp_path / "notes.txt")
    for upload, message in [
        (not_media, "notes.mp4: not a media file"),
        (truncated, "cut.mp4: truncated or corrupt"),
        (text_file, "Invalid file type"),
    ]:
        with pytest.raises(AppError) as error:
            client.predict(handle_file(upload), beam_size=1, api_name="/subtitle")
        assert message in str(error.value) and str(tmp_path) not in str(error.value)
    assert_jfk_result(subtitle_jfk(client))


def test_uploads_over_the_size_limit_are_refused(server, downloads, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom((MAX_FILE_MB + 1) * 2**20))
    with big.open("rb") as data:
        response = httpx.post(f"{server.url}gradio_api/upload", files={"files": ("big.mp4", data)})
    assert response.status_code == 413
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
    assert "`default`" in summary and "**device** `cpu`" in summary and "inactive" in summary
