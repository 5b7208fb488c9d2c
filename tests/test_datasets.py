"""The synthetic set shows and plays what its captions say; dataset readers; bad media skipped."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from data import synthetic
from data.datasets import load_clips, read_dataset
from tests.media_factory import make_corrupt, make_video, tone


def mel_stub(audio: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(audio)[None, :100]


@pytest.fixture(scope="module")
def syn_set(tmp_path_factory):
    return synthetic.generate(tmp_path_factory.mktemp("syn") / "set", 8, seed=5)


def centroid(frame: np.ndarray, rgb) -> np.ndarray:
    """(x, y) of the pixels close to the shape's colour."""
    close = np.abs(frame.astype(int) - np.array(rgb)).sum(-1) < 90
    ys, xs = np.nonzero(close)
    return np.array([xs.mean(), ys.mean()])


def test_synthetic_clips_show_and_play_their_caption(syn_set):
    captions = json.loads((syn_set / "captions.json").read_text())
    specs = json.loads((syn_set / "specs.json").read_text())["clips"]
    examples, problems = read_dataset(syn_set)
    assert len(examples) == 8 and not problems
    clips, report = load_clips(examples, 3.0, 4.0, 96, lambda a: torch.as_tensor(a))
    assert report.loaded == 8 and not report.skipped
    for example, clip in zip(examples, clips, strict=True):
        slots = synthetic.parse_caption(captions[example.video.name])
        assert slots is not None and slots["color"] == specs[example.video.name]["color"]
        assert clip.frames.shape == (12, 96, 96, 3)
        # Motion: the coloured blob's centre moves the way the caption says.
        rgb = synthetic.COLORS[slots["color"]]
        first, last = centroid(clip.frames[0].numpy(), rgb), centroid(clip.frames[-1].numpy(), rgb)
        dx, dy = synthetic.DIRECTIONS[slots["direction"]]
        moved = last - first
        assert moved @ np.array([dx, dy]) > 10, (slots, moved)
        assert abs(moved @ np.array([dy, dx])) < 6
        # Sound: beep count from the energy envelope, pitch from the spectrum.
        audio = clip.mel.numpy()  # the stub keeps raw samples
        energy = np.convolve(audio**2, np.ones(160) / 160, mode="same") > 0.01
        onsets = int(np.sum(energy[1:] & ~energy[:-1]))
        assert onsets == synthetic.COUNTS[slots["count"]]
        spectrum = np.abs(np.fft.rfft(audio))
        peak = np.fft.rfftfreq(len(audio), 1 / 16000)[spectrum.argmax()]
        assert (peak > 800) == (slots["pitch"] == "high")


def test_synthetic_set_is_the_same_however_many_processes_write_it(syn_set, tmp_path):
    """train.py writes its sets in one process per core: a seed must still give the same
    clips on a 2-core and a 16-core machine, and the files must decode to what was drawn."""
    two = synthetic.generate(tmp_path / "two", 8, seed=5, workers=2)
    for name in ("specs.json", "captions.json", "clip_00000.mp4", "clip_00007.mp4"):
        assert (two / name).read_bytes() == (syn_set / name).read_bytes(), name
    different = synthetic.generate(tmp_path / "other", 8, seed=6, workers=1)
    assert (different / "specs.json").read_bytes() != (syn_set / "specs.json").read_bytes()


def test_parse_caption():
    text = synthetic.caption_text("red", "circle", "up", "low", "three times")
    assert synthetic.parse_caption(text) == {
        "color": "red", "shape": "circle", "direction": "up", "pitch": "low", "count": "three times"
    }  # fmt: skip
    assert synthetic.parse_caption("a red circle") is None


def test_readers_and_bad_media(tmp_path):
    # (a) subtitled folder, with one corrupt and one subtitle-less video.
    folder = tmp_path / "subs"
    folder.mkdir()
    make_video(folder / "talk.mp4", 3.0, audio=tone(440, 3.0))
    (folder / "talk.srt").write_text(
        "1\n00:00:00,000 --> 00:00:01,000\nhello there\n\n2\n00:00:01,500 --> 00:00:02,500\n"
        "general kenobi\n"
    )
    make_corrupt(folder / "bad.mp4", 2.0)
    (folder / "bad.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nbroken\n")
    make_video(folder / "nosubs.mp4", 1.0)
    examples, problems = read_dataset(folder)
    assert [(e.video.name, e.start, e.end, e.text) for e in examples] == [
        ("bad.mp4", 0.0, 1.0, "broken"),
        ("talk.mp4", 0.0, 1.0, "hello there"),
        ("talk.mp4", 1.5, 2.5, "general kenobi"),
    ]
    clips, report = load_clips(examples, 3.0, 1.0, 32, mel_stub)
    assert [c.text for c in clips] == ["hello there", "general kenobi"]
    assert report.loaded == 2 and len(report.skipped) == 1 and "bad.mp4" in report.skipped[0]
    assert clips[0].mel.shape == (1, 100) and len(clips[1].frames) == 1  # 1 fps over [1.5, 2.5)

    # (b) MSR-VTT and VATEX JSON (clips named by id), one clip missing.
    videos = tmp_path / "videos"
    videos.mkdir()
    make_video(videos / "video0.mp4", 1.0, audio=tone(440, 1.0))
    msrvtt = {"videos": [{"video_id": "video0"}, {"video_id": "video1"}], "sentences": [
        {"video_id": "video0", "caption": "a man talks"},
        {"video_id": "video0", "caption": "someone speaks"},
        {"video_id": "video1", "caption": "missing clip"},
    ]}  # fmt: skip
    (tmp_path / "msrvtt.json").write_text(json.dumps(msrvtt))
    examples, _ = read_dataset(tmp_path / "msrvtt.json")
    assert [(e.key, e.text) for e in examples] == [
        ("video0", "a man talks"), ("video0", "someone speaks"), ("video1", "missing clip")
    ]  # fmt: skip
    clips, report = load_clips(examples, 3.0, 1.0, 32, mel_stub)
    assert len(clips) == 2 and len(report.skipped) == 1 and "file not found" in report.skipped[0]
    vatex = [{"videoID": "video0", "enCap": ["one", "two"]}]
    (tmp_path / "vatex.json").write_text(json.dumps(vatex))
    assert [e.text for e in read_dataset(tmp_path / "vatex.json")[0]] == ["one", "two"]

    # (c) JSONL manifest, relative paths from the manifest.
    lines = [
        {"video": "videos/video0.mp4", "start": 0.25, "end": 0.75, "text": "a  span"},
        {"video": "videos/video0.mp4", "start": 0.0, "end": None, "text": "whole"},
    ]
    (tmp_path / "set.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    examples, _ = read_dataset(tmp_path / "set.jsonl")
    assert [(e.start, e.end, e.text) for e in examples] == [
        (0.25, 0.75, "a span"),
        (0.0, None, "whole"),
    ]
    clips, report = load_clips(examples, 3.0, 4.0, 32, lambda a: torch.as_tensor(a))
    assert report.loaded == 2
    by_text = {c.text: c for c in clips}
    assert len(by_text["a span"].mel) == 8000 and len(by_text["whole"].mel) == 16000
    (tmp_path / "broken.jsonl").write_text('{"video": "x.mp4"}\n')
    with pytest.raises(ValueError, match="broken.jsonl:1"):
        read_dataset(tmp_path / "broken.jsonl")
