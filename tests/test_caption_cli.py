"""caption.py as a user runs it: folders, mirrored outputs, bad files, resume, usage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.media_factory import make_empty, make_text, make_truncated, make_video


def run_caption(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "caption.py"), *args, "--quiet", "--beam-size", "1"]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)


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
    assert json.loads((out / "talks/jfk.json").read_text())[0]["start"] == pytest.approx(
        0.0, abs=0.5
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


def test_an_unloadable_model_is_a_usage_error(tmp_path):
    result = run_caption(
        str(tmp_path), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "nope")
    )
    assert result.returncode == 2
    assert "cannot load model" in result.stderr and "nope" in result.stderr
