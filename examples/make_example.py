"""Make examples/jfk.mp4: 11 s of real speech with generated pictures.

    python examples/make_example.py [--audio PATH/jfk.flac] [--out examples/jfk.mp4]

Audio: shared/media/jfk.flac (a 1961 public-domain address: "And so my fellow
Americans, ask not what your country can do for you, ask what you can do for your
country."), mixed down to mono, AAC at 44.1 kHz, 96 kbit/s.
Video: 320x240, 25 fps, H.264: a waving striped banner drawn with numpy, a level
meter that follows the speech, and a bar that moves across the bottom with time.
The output is deterministic for a given PyAV/FFmpeg build (single-threaded x264).
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT, FPS = 320, 240, 25
RATE = 44100

RED, WHITE, BLUE = (178, 34, 52), (245, 245, 245), (40, 60, 130)


def default_audio() -> Path:
    """shared/media/jfk.flac in this checkout, else beside it."""
    for base in (ROOT, ROOT.parent):
        if (base / "shared/media/jfk.flac").exists():
            return base / "shared/media/jfk.flac"
    raise SystemExit("jfk.flac not found: pass --audio PATH")


def read_audio(path: Path) -> np.ndarray:
    """The file's audio as float32 mono at RATE, shape (T,)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray()[0] for f in resampler.resample(frame)]
    chunks += [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.clip(np.concatenate(chunks), -1.0, 1.0)


def draw(t: float, seconds: float, level: float) -> np.ndarray:
    """The picture at ``t`` seconds: (HEIGHT, WIDTH, 3) uint8 RGB."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    wave = 6 * np.sin(2 * np.pi * (x / 160 - 0.7 * t))  # the banner waves to the right
    stripe = ((y - 20 + wave) // 15).astype(int)  # 13 stripes between y = 20 and 215
    image = np.full((HEIGHT, WIDTH, 3), 25, np.uint8)
    inside = (stripe >= 0) & (stripe < 13) & (x >= 20) & (x < 300)
    image[inside & (stripe % 2 == 0)] = RED
    image[inside & (stripe % 2 == 1)] = WHITE
    canton = inside & (stripe < 7) & (x < 140)
    image[canton] = BLUE
    stars = canton & ((x - 20) % 20 >= 8) & ((x - 20) % 20 < 12)
    stars &= ((y - 20 + wave) % 15 >= 6) & ((y - 20 + wave) % 15 < 9)
    image[stars] = WHITE
    # Level meter on the right edge: the loudness of the speech right now.
    top = int(round(HEIGHT - 30 - level * (HEIGHT - 40)))
    image[top : HEIGHT - 30, 304:314] = (90, 220, 90)
    # Time bar along the bottom: reaches the right edge when the speech ends.
    image[HEIGHT - 18 : HEIGHT - 8, 10 : WIDTH - 10] = 60
    image[HEIGHT - 18 : HEIGHT - 8, 10 : 10 + int((WIDTH - 20) * t / seconds)] = (250, 200, 40)
    return image


def levels(audio: np.ndarray, frames: int) -> np.ndarray:
    """Per video frame: RMS loudness mapped to [0, 1], shape (frames,)."""
    hop = RATE // FPS
    rms = np.array(
        [np.sqrt(np.mean(audio[i * hop : (i + 1) * hop] ** 2) + 1e-12) for i in range(frames)]
    )
    db = 20 * np.log10(rms)
    return np.clip((db + 50) / 45, 0.0, 1.0)


def make(audio_path: Path, out: Path) -> None:
    audio = read_audio(audio_path)
    seconds = len(audio) / RATE
    frames = int(np.ceil(seconds * FPS))
    loud = levels(audio, frames)
    with av.open(str(out), "w", options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"crf": "26", "preset": "slow", "threads": "1"}
        sound = container.add_stream("aac", rate=RATE, layout="mono")
        sound.bit_rate = 96000
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(draw(i / FPS, seconds, loud[i]), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        for start in range(0, len(audio), 1024):
            chunk = np.ascontiguousarray(audio[None, start : start + 1024])
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            for packet in sound.encode(frame):
                container.mux(packet)
        for packet in sound.encode(None):
            container.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=None, help="jfk.flac (default: shared/media)")
    parser.add_argument("--out", type=Path, default=ROOT / "examples/jfk.mp4")
    args = parser.parse_args()
    make(args.audio or default_audio(), args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
