"""Benchmark speech videos made once and kept: espeak-ng takes about a minute per hour of
speech and the encoder as long again, so the benchmarks reuse what an earlier run made.

A video is named by its length and seed, with its exact transcript beside it (.txt); it is
written under a temporary name and renamed, so an interrupted run never leaves a file
that a later run would take for a finished one.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.speech_media import make_speech_video

DEFAULT_CACHE = Path(__file__).resolve().parent / "out" / "speech-media"


def cached_speech_video(cache: Path, seconds: float, seed: int) -> tuple[Path, str]:
    """(path, transcript) of `seconds` of espeak-ng speech made with `seed`."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"speech-{seconds:g}s-seed{seed}.mp4"
    transcript = path.with_suffix(".txt")
    if not (path.exists() and transcript.exists()):
        making = cache / f"making-{os.getpid()}-{path.name}"  # the suffix picks the codecs
        _, text = make_speech_video(making, seconds, seed=seed)
        transcript.write_text(text)
        os.replace(making, path)
    return path, transcript.read_text()
