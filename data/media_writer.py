"""Encoding media with PyAV: the frame and sample loops every writer of test clips,
synthetic data and examples shares (the reading side is data/media.py)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np

AUDIO_CHUNK = 1024  # samples per frame handed to the encoder (AAC's frame size)


def encode_video(container, stream, frames: Iterable[np.ndarray], fps: int) -> None:
    """Encode (H, W, 3) uint8 RGB pictures, frame i shown at i / fps, then flush."""
    for i, picture in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = i
        frame.time_base = Fraction(1, fps)
        _encode(container, stream, frame)
    _encode(container, stream, None)


def encode_audio(container, stream, samples: np.ndarray, sample_rate: int) -> None:
    """Encode float32 mono samples (N,) at `sample_rate`, then flush."""
    samples = np.asarray(samples, np.float32).reshape(1, -1)
    for start in range(0, samples.shape[1], AUDIO_CHUNK):
        chunk = np.ascontiguousarray(samples[:, start : start + AUDIO_CHUNK])
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        _encode(container, stream, frame)
    _encode(container, stream, None)


def _encode(container, stream, frame) -> None:
    """Encode one frame (None: flush the encoder) and mux what comes out."""
    for packet in stream.encode(frame):
        container.mux(packet)
