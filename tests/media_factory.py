"""Small real media files for tests, written with PyAV (no ffmpeg binary).

Good files:

- ``make_video(path, seconds, ...)``: H.264 video (+ AAC audio) in .mp4/.mov/.m4v/.mkv,
  VP9 (+ Opus) in .webm. Each frame is ``draw_frame(t)``: a background colour
  ``frame_color(t)`` that changes every whole second over the top three quarters,
  and a white square moving left to right in a dark band along the bottom.
- ``make_audio(path, samples, sample_rate)``: .wav (16-bit PCM), .flac, .m4a (AAC),
  .mp3, .ogg/.opus (Opus).
- ``tone(freq, seconds)``: a sine to feed them.

``make_understated_aac(path, seconds)``: raw ADTS AAC whose duration FFmpeg estimates from
its first packets' bit rate as a small fraction of ``seconds``.

Bad files: ``make_empty``, ``make_text`` (text under a media name), ``make_truncated``
(the first half of a valid file), ``make_corrupt`` (random bytes over the middle).

Every function returns the path it wrote, as a ``str``.
"""

from __future__ import annotations

import os

import av
import numpy as np

from data.media_writer import encode_audio, encode_video

PALETTE = (
    (220, 40, 40),
    (40, 190, 60),
    (40, 80, 220),
    (230, 200, 40),
    (200, 60, 200),
    (40, 200, 200),
)


def tone(freq: float, seconds: float, sample_rate: int = 16000, amplitude: float = 0.5):
    """A sine wave: float32, shape (round(seconds * sample_rate),)."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def frame_color(t: float) -> tuple[int, int, int]:
    """The RGB background colour of the frame shown at ``t`` seconds."""
    return PALETTE[int(t) % len(PALETTE)]


def draw_frame(t: float, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """The frame at ``t`` seconds: (height, width, 3) uint8 RGB for ``size = (width, height)``."""
    width, height = size
    image = np.empty((height, width, 3), np.uint8)
    band = height * 3 // 4
    image[:band] = frame_color(t)
    image[band:] = 30
    side = max(2, (height - band) // 2)
    x = int((t % 4) / 4 * (width - side))  # crosses the frame every 4 seconds
    y = band + (height - band - side) // 2
    image[y : y + side, x : x + side] = 255
    return image


def make_video(
    path,
    seconds: float,
    fps: int = 25,
    size: tuple[int, int] = (64, 48),
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    video: bool = True,
    faststart: bool = False,
) -> str:
    """Write ``seconds`` of ``draw_frame`` video at ``fps`` and ``size = (width, height)``
    (both even) plus ``audio`` (float32 mono at ``sample_rate``) if given.

    ``video=False`` writes only the audio (e.g. an .m4a or an audio-only .mp4);
    ``faststart`` puts an .mp4's index before its media data.
    Codecs follow the suffix: .webm gets VP9 + Opus, everything else H.264 + AAC.
    """
    path = os.fspath(path)
    webm = path.lower().endswith(".webm")
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(path, "w", options=options) as container:
        vstream = astream = None
        if video:
            vstream = container.add_stream("libvpx-vp9" if webm else "libx264", rate=fps)
            vstream.width, vstream.height = size
            vstream.pix_fmt = "yuv420p"
            if not webm:
                vstream.options = {"preset": "ultrafast", "threads": "1"}
        if audio is not None:
            rate = 48000 if webm else sample_rate  # Opus encodes 48 kHz
            astream = container.add_stream("libopus" if webm else "aac", rate=rate, layout="mono")
            if not webm:
                astream.options = {"aac_coder": "fast"}  # 2-3x faster than the default
        if vstream is not None:
            pictures = (draw_frame(i / fps, size) for i in range(round(seconds * fps)))
            encode_video(container, vstream, pictures, fps)
        if astream is not None:
            encode_audio(container, astream, audio, sample_rate)
    return path


_AUDIO_CODECS = {
    ".wav": "pcm_s16le",
    ".flac": "flac",
    ".m4a": "aac",
    ".mp3": "libmp3lame",
    ".ogg": "libopus",
    ".opus": "libopus",
}


def make_audio(path, samples: np.ndarray, sample_rate: int = 16000) -> str:
    """Write ``samples`` (float32 mono in [-1, 1]) as an audio file chosen by suffix:
    .wav (16-bit PCM, exact up to 16-bit rounding), .flac, .m4a, .mp3, .ogg/.opus."""
    path = os.fspath(path)
    codec = _AUDIO_CODECS[os.path.splitext(path)[1].lower()]
    rate = 48000 if codec == "libopus" else sample_rate
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        encode_audio(container, stream, samples, sample_rate)
    return path


def make_understated_aac(path, seconds: float, sample_rate: int = 16000) -> str:
    """Raw ADTS AAC: 5 s of loud noise (a high bit rate), then silence (a low one); FFmpeg
    guesses the duration from the bit rate of the start, so it reads far too short."""
    loud = np.random.default_rng(0).uniform(-0.5, 0.5, 5 * sample_rate).astype(np.float32)
    quiet = np.zeros(round((seconds - 5) * sample_rate), np.float32)
    path = os.fspath(path)
    with av.open(path, "w", format="adts") as container:
        stream = container.add_stream("aac", rate=sample_rate, layout="mono")
        encode_audio(container, stream, np.concatenate([loud, quiet]), sample_rate)
    return path


def make_empty(path) -> str:
    """A zero-byte file."""
    open(path, "wb").close()
    return os.fspath(path)


def make_text(path) -> str:
    """A plain text file, whatever the suffix of ``path`` says."""
    with open(path, "w") as f:
        f.write("This is a text file, not a video.\n" * 40)
    return os.fspath(path)


def make_truncated(path, seconds: float = 2.0, keep: float = 0.5, faststart: bool = False) -> str:
    """The first ``keep`` of a valid ``make_video`` file with audio (the suffix picks the
    container; an .mp4 keeps its index at the end, so its first half has none, unless
    ``faststart`` puts it first, as web video usually has it)."""
    make_video(path, seconds, audio=tone(440, seconds), faststart=faststart)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: round(len(data) * keep)])
    return os.fspath(path)


def make_corrupt(path, seconds: float = 2.0, seed: int = 0) -> str:
    """A valid ``make_video`` file with audio whose middle fifth is random bytes:
    its header is intact, its packets in the middle are garbage."""
    make_video(path, seconds, audio=tone(440, seconds))
    with open(path, "rb") as f:
        data = bytearray(f.read())
    start, count = len(data) * 2 // 5, len(data) // 5
    data[start : start + count] = np.random.default_rng(seed).bytes(count)
    with open(path, "wb") as f:
        f.write(bytes(data))
    return os.fspath(path)
