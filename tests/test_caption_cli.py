"""caption.py as a user runs it: folders, mirrored outputs, bad files, resume, usage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.media_factory import make_empty, make_text, make_truncated, make_video


def caption_command(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "caption.py"), *args, "--quiet", "--beam-size", "1"]


def run_caption(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        caption_command(*args), capture_output=True, text=True, cwd=ROOT, timeout=600
    )


def all_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, jfk_audio):
    """Good files (speech videos) in a tree, plus each class of bad file."""
    root = tmp_path_factory.mktemp("media")
    for folder in ("talks", "music", "bad"):
        (root / folder).mkdir()
    make_video(str(root / "talks" / "jfk.mp4"), 11.0, audio=jfk_audio)
    make_video(str(root / "music" / "end.mkv"), 3.0, audio=jfk_audio[16000 * 8 :])
    # Cut at two thirds, its index first (as web video has it): damaged, partly readable.
    damaged = make_video(root / "talks" / "jfk-damaged.mp4", 11.0, audio=jfk_audio, faststart=True)
    data = Path(damaged).read_bytes()
    Path(damaged).write_bytes(data[: len(data) * 2 // 3])
    make_empty(str(root / "bad" / "empty.mp4"))
    make_text(str(root / "bad" / "notes.mp4"))
    make_truncated(str(root / "bad" / "cut.mp4"))
    # Named on the command line (not searched for): FFmpeg opens it, a subtitle stream only.
    (root / "bad" / "only-text.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nOnly text.\n")
    (root / "readme.txt").write_text(
        "not media, and not searched: its extension is not a media one"
    )
    return root


@pytest.fixture(scope="module")
def mixed_run(mixed_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("subs")
    result = run_caption(
        str(mixed_folder),
        str(mixed_folder / "missing.mp4"),
        str(mixed_folder / "bad" / "only-text.srt"),
        "--out",
        str(out),
        "--format",
        "srt,vtt,json,txt",
    )
    return result, out


def test_good_files_are_done_and_mirror_the_tree(mixed_run):
    result, out = mixed_run
    for stem in ("talks/jfk", "music/end"):
        for ext in ("srt", "vtt", "json", "txt"):
            assert (out / f"{stem}.{ext}").exists(), f"{stem}.{ext} missing"
    assert "fellow Americans" in (out / "talks/jfk.txt").read_text()
    written = json.loads((out / "talks/jfk.json").read_text())
    assert written["cues"][0]["start"] == pytest.approx(0.0, abs=0.5)
    # The factory's picture changes colour every second: a cut each second, listed.
    assert (
        written["shot_changes"] == pytest.approx([float(s) for s in range(1, 11)])
        and written["fps"] == 25
    )


def test_each_bad_file_is_one_line_on_stderr_and_exit_1(mixed_run, mixed_folder):
    result, out = mixed_run
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    expected = {
        "empty.mp4": "empty file",
        "notes.mp4": "not a media file",
        "cut.mp4": "truncated or corrupt",
        "missing.mp4": "no such file",
        "only-text.srt": "no audio or video stream",
    }
    for name, reason in expected.items():
        matching = [line for line in lines if name in line]
        assert len(matching) == 1, (name, lines)
        assert reason in matching[0]
    failures = [
        json.loads(line) for line in (out / "caption-failures.jsonl").read_text().splitlines()
    ]
    assert sorted(Path(f["file"]).name for f in failures) == sorted(expected)


def test_damaged_media_are_subtitled_as_far_as_they_go_and_said_to_be_damaged(mixed_run):
    result, out = mixed_run
    lines = [line for line in result.stderr.splitlines() if "jfk-damaged.mp4" in line]
    assert len(lines) == 1 and ": damaged: " in lines[0] and "audio ends at" in lines[0]
    assert "fellow Americans" in (out / "talks/jfk-damaged.txt").read_text()
    assert "jfk-damaged" not in (out / "caption-failures.jsonl").read_text()


def test_failed_files_leave_no_output_and_no_temporaries(mixed_run):
    _, out = mixed_run
    names = all_files(out)
    assert not [n for n in names if n.startswith("bad") or "missing" in n or "only-text" in n]
    assert not [n for n in names if ".tmp-" in n]


def test_rerun_skips_done_files_and_overwrite_redoes_them(tmp_path, jfk_audio):
    media = tmp_path / "in"
    media.mkdir()
    make_video(str(media / "a.mp4"), 3.0, audio=jfk_audio[: 16000 * 3])
    out = tmp_path / "out"
    assert run_caption(str(media), "--out", str(out)).returncode == 0
    srt = out / "a.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nkept\n")
    assert run_caption(str(media), "--out", str(out)).returncode == 0
    assert "kept" in srt.read_text(), "a finished output was redone without --overwrite"
    assert run_caption(str(media), "--out", str(out), "--overwrite").returncode == 0
    assert "kept" not in srt.read_text()


def test_a_single_file_input_writes_next_to_its_name(tmp_path, jfk_audio):
    media = make_video(str(tmp_path / "clip.mov"), 3.0, audio=jfk_audio[16000 * 8 :])
    out = tmp_path / "out"
    assert run_caption(media, "--out", str(out), "--format", "vtt").returncode == 0
    vtt = (out / "clip.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "your country" in vtt


@pytest.mark.parametrize(
    "args, message",
    [
        (["x.mp4"], "--out"),
        (["x.mp4", "--out", "o", "--format", "docx"], "unknown format docx"),
        (["x.mp4", "--out", "o", "--beam-size", "0"], "beam-size"),
        (["x.mp4", "--out", "o", "--encoder-padding", "-1"], "--encoder-padding"),
    ],
)
def test_bad_usage_exits_2(args, message, tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "caption.py"), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_help_and_usage_errors_answer_before_pytorch_is_imported(tmp_path):
    """--help and a usage error do not wait for PyTorch's import (~1.3 s)."""
    check = (
        "import sys; import caption\n"
        "for argv in (['--help'], ['x.mp4', '--out', 'o', '--beam-size', '0']):\n"
        "    try:\n"
        "        caption.parse_args(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_an_unloadable_model_is_a_usage_error(tmp_path):
    result = run_caption(
        str(tmp_path), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "nope")
    )
    assert result.returncode == 2
    assert "cannot load model" in result.stderr and "nope" in result.stderr


# ------------------------------------------------ interrupted runs and torchrun sharding

SR = 16000
FOLDER_FLAGS = ("--batch-size", "2", "--format", "srt,json")


def contents(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in all_files(folder)}


@pytest.fixture(scope="module")
def speech_folder(tmp_path_factory, jfk_audio):
    """Six short speech videos (pieces of the JFK clip) in a tree, and one bad file."""
    root = tmp_path_factory.mktemp("speech")
    (root / "sub").mkdir()
    (root / "bad").mkdir()
    quiet = (np.random.default_rng(0).standard_normal(2 * SR) * 1e-3).astype(np.float32)
    pieces = {
        "a.mp4": jfk_audio,
        "b.mp4": jfk_audio[: int(4.5 * SR)],
        "c.mp4": jfk_audio[int(3.5 * SR) : int(8.5 * SR)],
        "d.mp4": jfk_audio[8 * SR :],
        "sub/e.mkv": np.concatenate([quiet, jfk_audio[: 6 * SR]]),
        "sub/f.mp4": np.concatenate([jfk_audio[5 * SR :], quiet[:SR]]),
    }
    for name, audio in pieces.items():
        make_video(str(root / name), len(audio) / SR, audio=audio)
    make_text(str(root / "bad" / "notes.mp4"))
    return root


SPEECH_OUTPUTS = sorted(
    f"{stem}.{ext}" for stem in ("a", "b", "c", "d", "sub/e", "sub/f") for ext in ("srt", "json")
)


@pytest.fixture(scope="module")
def uninterrupted(speech_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    result = run_caption(str(speech_folder), "--out", str(out), *FOLDER_FLAGS)
    assert result.returncode == 1, result.stderr  # the bad file
    assert [n for n in all_files(out) if n != "caption-failures.jsonl"] == SPEECH_OUTPUTS
    return out


def test_a_run_killed_midway_and_rerun_equals_an_uninterrupted_run(
    speech_folder, uninterrupted, tmp_path
):
    out = tmp_path / "out"
    command = caption_command(str(speech_folder), "--out", str(out), *FOLDER_FLAGS)
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while run.poll() is None and time.monotonic() < deadline:
            if out.exists() and any(n.endswith((".srt", ".json")) for n in all_files(out)):
                break
            time.sleep(0.02)
        os.kill(run.pid, signal.SIGKILL)  # no chance to clean up
    finally:
        run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    first = {n: (out / n).stat().st_mtime_ns for n in all_files(out) if ".tmp-" not in n}
    assert first and len(first) < len(SPEECH_OUTPUTS), f"killed too late: {sorted(first)}"
    # What a kill during a write leaves: a temporary beside the output it was becoming.
    (out / "sub").mkdir(exist_ok=True)
    (out / "sub" / ".tmp-f.srt.x1y2z3").write_text("1\n00:00:00,000 --> 00:00:0")

    rerun = run_caption(str(speech_folder), "--out", str(out), *FOLDER_FLAGS)
    assert rerun.returncode == 1  # the bad file again, and only it
    assert [line for line in rerun.stderr.splitlines() if line.strip()] == [
        line for line in rerun.stderr.splitlines() if "notes.mp4" in line
    ]
    assert contents(out) == contents(uninterrupted)  # none missing, none extra, same bytes
    assert not [n for n in all_files(out) if ".tmp-" in n]
    # Finished files (all their outputs written before the kill) were kept, not redone; a
    # file killed between its .srt and its .json is redone.
    for name, mtime in first.items():
        outputs = [str(Path(name).with_suffix(f".{ext}")) for ext in ("srt", "json")]
        if all(output in first for output in outputs):
            assert (out / name).stat().st_mtime_ns == mtime, name


def test_torchrun_on_two_processes_writes_what_one_process_writes(
    speech_folder, uninterrupted, tmp_path
):
    out = tmp_path / "ranks"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
    ]
    command += caption_command(str(speech_folder), "--out", str(out), *FOLDER_FLAGS)[1:]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]
    assert contents(out) == contents(uninterrupted)
    failures = (out / "caption-failures.jsonl").read_text().splitlines()
    assert len(failures) == 1 and "notes.mp4" in json.loads(failures[0])["file"]
    assert len([line for line in result.stderr.splitlines() if "notes.mp4" in line]) == 1
