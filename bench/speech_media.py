"""Speech media for benchmarks: the 11 s JFK clip repeated with pauses, as real files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.media import load_audio  # noqa: E402
from tests.media_factory import make_video  # noqa: E402

JFK_FLAC = ROOT.parent / "shared" / "media" / "jfk.flac"
JFK_TEXT = "and so my fellow americans ask not what your country can do for you ask what you can do for your country"


def speech_track(seconds: float, pause: float = 4.0, seed: int = 0) -> tuple[np.ndarray, int]:
    """(samples, repeats): the clip repeated with `pause` s of quiet noise between, cut to `seconds`."""
    clip = load_audio(JFK_FLAC)
    rng = np.random.default_rng(seed)
    pieces, total, repeats = [], 0, 0
    while total < seconds * 16000:
        gap = (rng.standard_normal(int(pause * 16000)) * 1e-3).astype(np.float32)
        pieces += [clip * rng.uniform(0.6, 1.0), gap]
        total += len(clip) + len(gap)
        repeats += 1
    audio = np.concatenate(pieces)[: int(seconds * 16000)].astype(np.float32)
    whole = int(len(audio) // (len(clip) + int(pause * 16000)))
    remainder = len(audio) - whole * (len(clip) + int(pause * 16000))
    return audio, whole + (1 if remainder >= len(clip) else 0)


def make_speech_video(path: Path, seconds: float, seed: int = 0) -> tuple[Path, int]:
    """A small H.264/AAC video of `seconds` of speech; returns the path and how many full
    repetitions of the clip it holds (its reference text is JFK_TEXT that many times)."""
    audio, repeats = speech_track(seconds, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_video(str(path), seconds, fps=5, size=(64, 48), audio=audio)
    return path, repeats
