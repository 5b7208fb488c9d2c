"""The embedded synthetic audio-visual caption set: short real H.264 + AAC clips.

Each clip shows one coloured shape moving in one direction over a noisy background and
plays a pure tone that beeps a number of times. Its caption needs both senses:

    "a {color} {shape} moves {direction} while a {pitch} tone beeps {count}"

colour, shape and direction are only visible; pitch and count only audible. Sizes,
speeds, start positions, frame sizes, tone frequencies, beep timing and noise vary per
clip, drawn from a generator seeded by (set seed, clip index), so a seed gives the same
set on every machine, however many processes write it.

    python -m data.synthetic --out DIR --n N --seed S [--workers W]

writes DIR/clip_00000.mp4 ... and DIR/captions.json ({"clip_00000.mp4": "caption"}).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from data.media import SAMPLE_RATE
from data.media_writer import encode_audio, encode_video

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 90, 230),
    "yellow": (235, 210, 40),
}
SHAPES = ("square", "circle", "triangle")
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
PITCHES = {"low": (250.0, 450.0), "high": (1300.0, 2200.0)}  # Hz ranges
COUNTS = {"once": 1, "twice": 2, "three times": 3}
SLOTS = ("color", "shape", "direction", "pitch", "count")
VISUAL_SLOTS = ("color", "shape", "direction")
AUDIO_SLOTS = ("pitch", "count")

PROJECT = Path(__file__).resolve().parents[1]  # where `python -m data.synthetic` runs
VERSION = 3  # bump when the generator changes: cached sets are named with it
SECONDS = 3.0
VIDEO_FPS = 12
FRAME_SIZES = ((96, 96), (128, 96), (112, 112), (96, 128))  # (width, height), even


@dataclass(frozen=True)
class ClipSpec:
    color: str
    shape: str
    direction: str
    pitch: str
    count: str
    size: tuple[int, int]  # (width, height) of the video
    side: float  # shape size in pixels
    start: tuple[float, float]  # shape centre at t = 0, pixels
    speed: float  # pixels per second
    color_jitter: tuple[int, int, int]
    frequency: float  # Hz
    beep_starts: tuple[float, ...]  # seconds
    beep_length: float  # seconds
    noise: float  # amplitude of the audio noise floor (pixel noise is fixed, mild)

    @property
    def caption(self) -> str:
        return caption_text(self.color, self.shape, self.direction, self.pitch, self.count)


def caption_text(color: str, shape: str, direction: str, pitch: str, count: str) -> str:
    return f"a {color} {shape} moves {direction} while a {pitch} tone beeps {count}"


def parse_caption(text: str) -> dict[str, str] | None:
    """The five slots of a caption in the synthetic grammar, or None if it does not parse."""
    words = text.strip().lower().rstrip(".").split()
    if len(words) < 10 or words[0] != "a" or words[3] != "moves" or words[5:7] != ["while", "a"]:
        return None
    if words[8:10] != ["tone", "beeps"]:
        return None
    slots = {
        "color": words[1],
        "shape": words[2],
        "direction": words[4],
        "pitch": words[7],
        "count": " ".join(words[10:]),
    }
    return slots


def random_spec(rng: np.random.Generator) -> ClipSpec:
    """One clip's parameters. The shape stays fully inside the frame all the time."""
    color = str(rng.choice(list(COLORS)))
    shape = str(rng.choice(SHAPES))
    direction = str(rng.choice(list(DIRECTIONS)))
    pitch = str(rng.choice(list(PITCHES)))
    count = str(rng.choice(list(COUNTS)))
    width, height = FRAME_SIZES[rng.integers(len(FRAME_SIZES))]
    side = float(rng.uniform(0.25, 0.4) * min(width, height))
    dx, dy = DIRECTIONS[direction]
    extent = width if dx else height
    room = extent - side - 4  # centre travel available along the motion axis
    travel = float(rng.uniform(0.45, 0.8) * room)
    speed = travel / SECONDS
    lo, hi = side / 2 + 2, side / 2 + 2 + room - travel  # start along the motion axis
    along = float(rng.uniform(lo, hi))
    if dx < 0 or dy < 0:  # moving left/up: start at the far side
        along = extent - along
    across_extent = height if dx else width
    across = float(rng.uniform(side / 2 + 2, across_extent - side / 2 - 2))
    start = (along, across) if dx else (across, along)
    n = COUNTS[count]
    beep_length = float(rng.uniform(0.2, 0.3))
    slot = (SECONDS - 0.2) / n  # each beep starts somewhere inside its own slot
    beep_starts = tuple(
        float(0.1 + i * slot + rng.uniform(0, slot - beep_length - 0.15)) for i in range(n)
    )
    return ClipSpec(
        color=color,
        shape=shape,
        direction=direction,
        pitch=pitch,
        count=count,
        size=(int(width), int(height)),
        side=side,
        start=start,
        speed=speed,
        color_jitter=tuple(int(v) for v in rng.integers(-25, 26, size=3)),
        frequency=float(rng.uniform(*PITCHES[pitch])),
        beep_starts=beep_starts,
        beep_length=beep_length,
        noise=float(rng.uniform(0.003, 0.02)),
    )


def draw(spec: ClipSpec, t: float, rng: np.random.Generator) -> np.ndarray:
    """The frame at t seconds: (height, width, 3) uint8 RGB."""
    width, height = spec.size
    # Mild pixel noise around a dark grey: uniform 30-50 (std 6), drawn as bytes (3x
    # faster than normal floats, and drawing was most of the time a clip took to write).
    image = rng.integers(30, 51, size=(height, width, 3), dtype=np.uint8)
    dx, dy = DIRECTIONS[spec.direction]
    cx = spec.start[0] + dx * spec.speed * t
    cy = spec.start[1] + dy * spec.speed * t
    ys = np.arange(height, dtype=np.float32)[:, None]  # (H, 1)
    xs = np.arange(width, dtype=np.float32)[None, :]  # (1, W)
    r = spec.side / 2
    if spec.shape == "square":
        inside = (np.abs(xs - cx) <= r) & (np.abs(ys - cy) <= r)
    elif spec.shape == "circle":
        inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    else:  # triangle pointing up, apex at the top
        top, bottom = cy - r, cy + r
        frac = (ys - top) / (2 * r)
        inside = (ys >= top) & (ys <= bottom) & (np.abs(xs - cx) <= frac * r)
    rgb = np.clip(np.array(COLORS[spec.color]) + np.array(spec.color_jitter), 0, 255)
    image[inside] = rgb.astype(np.uint8)  # inside: (H, W)
    return image


def audio(spec: ClipSpec, rng: np.random.Generator) -> np.ndarray:
    """(SECONDS * SAMPLE_RATE,) float32: noise floor plus the beeps, 10 ms fades."""
    n = round(SECONDS * SAMPLE_RATE)
    samples = rng.normal(0.0, spec.noise, n).astype(np.float32)
    length = round(spec.beep_length * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    beep = 0.4 * np.sin(2 * np.pi * spec.frequency * t)
    fade = min(160, length // 2)
    envelope = np.ones(length)
    envelope[:fade] = np.linspace(0, 1, fade)
    envelope[-fade:] = np.linspace(1, 0, fade)
    beep = (beep * envelope).astype(np.float32)
    for start in spec.beep_starts:
        s = round(start * SAMPLE_RATE)
        samples[s : s + length] += beep[: n - s]
    return np.clip(samples, -1.0, 1.0)


def write_clip(path: str | os.PathLike, spec: ClipSpec, rng: np.random.Generator) -> None:
    """Write one clip: H.264 video at VIDEO_FPS and AAC audio at 16 kHz, SECONDS long."""
    with av.open(os.fspath(path), "w") as container:
        vstream = container.add_stream("libx264", rate=VIDEO_FPS)
        vstream.width, vstream.height = spec.size
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"preset": "ultrafast", "threads": "1"}
        astream = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        astream.options = {"aac_coder": "fast"}
        pictures = (draw(spec, i / VIDEO_FPS, rng) for i in range(round(SECONDS * VIDEO_FPS)))
        encode_video(container, vstream, pictures, VIDEO_FPS)
        encode_audio(container, astream, audio(spec, rng), SAMPLE_RATE)


def clip_spec(seed: int, index: int) -> tuple[ClipSpec, np.random.Generator]:
    """Clip `index` of the set with this seed: its parameters and the generator, seeded by
    (seed, index) alone, that then draws its pixels and noise."""
    rng = np.random.default_rng([seed, index])
    return random_spec(rng), rng


def clip_name(index: int) -> str:
    return f"clip_{index:05d}.mp4"


def write_part(out: Path, n: int, seed: int, part: int, parts: int) -> None:
    """Write the clips whose index is `part` modulo `parts`."""
    for index in range(part, n, parts):
        spec, rng = clip_spec(seed, index)
        write_clip(out / clip_name(index), spec, rng)


def generate(out: str | os.PathLike, n: int, seed: int, workers: int | None = None) -> Path:
    """Write n clips and captions.json (plus specs.json, every clip's parameters) to out,
    in `workers` processes (default: one per core; one for a small set, where starting
    processes costs more than it saves). A finished folder (captions.json present with n
    entries for this seed and version) is reused."""
    out = Path(out)
    captions_path = out / "captions.json"
    if captions_path.exists():
        meta = json.loads((out / "specs.json").read_text()) if (out / "specs.json").exists() else {}
        same = meta.get("seed") == seed and meta.get("version") == VERSION
        if same and len(meta.get("clips", {})) == n:
            return out
    out.mkdir(parents=True, exist_ok=True)
    if workers is None:
        workers = min(os.cpu_count() or 1, max(1, n // 100))
    # Parts 1.. in fresh interpreters (`python -m data.synthetic --part K`), which import
    # only NumPy and PyAV; part 0 here meanwhile.
    command = [sys.executable, "-m", "data.synthetic", "--out", str(out), "--n", str(n),
               "--seed", str(seed), "--parts", str(workers)]  # fmt: skip
    helpers = [
        subprocess.Popen(
            [*command, "--part", str(part)],
            cwd=PROJECT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in range(1, workers)
    ]
    write_part(out, n, seed, 0, workers)
    for helper in helpers:
        _, errors = helper.communicate()
        if helper.returncode:
            last = (errors.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"{out}: writing the synthetic clips failed: {last}")
    specs = {clip_name(i): clip_spec(seed, i)[0] for i in range(n)}
    meta = {"seed": seed, "version": VERSION, "clips": {k: asdict(v) for k, v in specs.items()}}
    (out / "specs.json").write_text(json.dumps(meta))
    tmp = captions_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({k: v.caption for k, v in specs.items()}, indent=1))
    tmp.replace(captions_path)  # captions.json last: its presence marks a finished set
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the synthetic audio-visual caption set.")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, help="processes (default: one per core)")
    parser.add_argument("--part", type=int, help="write only the clips of this part (a worker)")
    parser.add_argument("--parts", type=int, default=1, help="parts the set is split in")
    args = parser.parse_args(argv)
    if args.part is not None:
        write_part(args.out, args.n, args.seed, args.part, args.parts)
        return 0
    generate(args.out, args.n, args.seed, args.workers)
    print(f"wrote {args.n} clips and captions.json to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
