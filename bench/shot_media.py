"""Videos with shot changes at known frames and espeak-ng speech placed around them
(issue 19): hard cuts, dissolves and fades at 24, 25 and 29.97 fps.

    python bench/shot_media.py --out DIR [--seconds 180] [--long-minutes 20]

For every video NAME.mp4 it writes NAME.srt (one cue per sentence, from its first to its
last voiced sample) and NAME.cuts.json ({"fps": [num, den], "cuts": [frame...],
"gradual": [[first, last, kind]...]}: the first frame of each new shot after a hard cut,
and the frames a dissolve or fade spans). Each sentence is placed in one way against the
picture, in turn: inside a shot, ending 0.05-0.45 s before a cut, starting 0.05-0.45 s
after one, starting just before one (the speech crosses it), ending just after one, or with
a cut in its middle. Shots are panning random textures, each its own; a dissolve blends two
over 12-24 frames, a fade goes to black and back over 2 x 8-16 frames. Seeded: the same
arguments give the same files.
"""

from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.readable_media import NOISE_FLOOR, SAMPLE_RATE, spoken_sentence  # noqa: E402
from bench.speech_media import SENTENCES  # noqa: E402
from data.media_writer import encode_audio  # noqa: E402
from data.subtitles import Cue, write_subtitles  # noqa: E402

RATES = {"24": Fraction(24), "25": Fraction(25), "29.97": Fraction(30000, 1001)}
PLACEMENTS = ("inside", "end_before", "start_after", "start_before", "end_after", "middle")
MIN_SHOT = 1.0  # seconds between any two transitions


def _bounce(position: float, span: int) -> int:
    """`position` folded into [0, span] by reflection: a pan turns back, never jumps."""
    folded = position % (2 * span)
    return int(folded if folded <= span else 2 * span - folded)


class Shots:
    """Panning textures, one per shot, drawn at `size = (width, height)`."""

    def __init__(self, size: tuple[int, int], seed: int):
        self.width, self.height = size
        self.rng = np.random.default_rng(seed)
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def picture(self, shot: int, frame: int) -> np.ndarray:
        """Shot `shot`'s picture `frame` frames after it began: (H, W, 3) float32."""
        if shot not in self.cache:
            self.cache = {k: v for k, v in self.cache.items() if k >= shot - 1}
            cells = self.rng.integers(20, 236, (12, 20, 3)).astype(np.float32)
            block = (self.height * 2 // 12 + 1, self.width * 2 // 20 + 1)
            texture = np.kron(cells, np.ones((*block, 1), np.float32))
            self.cache[shot] = (texture, self.rng.uniform(-2, 2, 2))
        texture, velocity = self.cache[shot]
        span_y, span_x = texture.shape[0] - self.height, texture.shape[1] - self.width
        y, x = (
            _bounce(span_y / 2 + velocity[0] * frame, span_y),
            _bounce(span_x / 2 + velocity[1] * frame, span_x),
        )
        return texture[y : y + self.height, x : x + self.width]


def speech_timeline(seconds: float, rng: np.random.Generator):
    """Sentences with pauses of 0.8-2.5 s: (track (N,), cues), the track `seconds` long."""
    pieces, cues, t = [], [], rng.uniform(1.0, 2.0)
    pieces.append(np.zeros(round(t * SAMPLE_RATE), np.float32))
    deck = [SENTENCES[i] for _ in range(50) for i in rng.permutation(len(SENTENCES))]
    for text in deck:
        voice = spoken_sentence(text, rng)
        pause = rng.uniform(0.8, 2.5)
        if t + len(voice) / SAMPLE_RATE + pause + 1.0 > seconds:
            break
        pieces.append(voice)
        cues.append(Cue(round(t, 3), round(t + len(voice) / SAMPLE_RATE, 3), text))
        t += len(voice) / SAMPLE_RATE
        pieces.append(np.zeros(round(pause * SAMPLE_RATE), np.float32))
        t += pause
    track = np.zeros(round(seconds * SAMPLE_RATE), np.float32)
    joined = np.concatenate(pieces)[: len(track)]
    track[: len(joined)] = joined
    return track + (rng.standard_normal(len(track)) * NOISE_FLOOR).astype(np.float32), cues


def place_cuts(cues: list[Cue], seconds: float, rng: np.random.Generator) -> list[float]:
    """Cut times: one per sentence as its placement (in turn) asks, plus one in the middle
    of every pause of 2 s or more; none closer than MIN_SHOT to another."""
    wanted = []
    for index, cue in enumerate(cues):
        kind = PLACEMENTS[index % len(PLACEMENTS)]
        near = rng.uniform(0.05, 0.45)
        if kind == "end_before":
            wanted.append(cue.end + near)
        elif kind == "start_after":
            wanted.append(cue.start - near)
        elif kind == "start_before":
            wanted.append(cue.start + rng.uniform(0.1, 0.45))
        elif kind == "end_after":
            wanted.append(cue.end - rng.uniform(0.1, 0.45))
        elif kind == "middle":
            wanted.append((cue.start + cue.end) / 2)
        if index + 1 < len(cues) and cues[index + 1].start - cue.end >= 2.0:
            wanted.append((cue.end + cues[index + 1].start) / 2)
    cuts: list[float] = []
    for t in sorted(wanted):
        if MIN_SHOT <= t <= seconds - MIN_SHOT and (not cuts or t - cuts[-1] >= MIN_SHOT):
            cuts.append(t)
    return cuts


def schedule(cuts: list[int], n_frames: int, fps: float, rng: np.random.Generator):
    """Gradual transitions in shots long enough to hold one with MIN_SHOT to spare on each
    side: [(first, last, kind)], dissolves and fades in turn."""
    gradual, bounds = [], [0, *cuts, n_frames]
    margin = round(MIN_SHOT * fps)
    for a, b in zip(bounds, bounds[1:], strict=False):
        length = (
            int(rng.integers(12, 25)) if len(gradual) % 2 == 0 else 2 * int(rng.integers(8, 17))
        )
        if b - a >= 2 * margin + length + round(2 * fps):
            first = int(rng.integers(a + margin, b - margin - length))
            gradual.append(
                (first, first + length - 1, "dissolve" if len(gradual) % 2 == 0 else "fade")
            )
    return gradual


def pictures(cuts: list[int], gradual, n_frames: int, shots: Shots):
    """Every frame as uint8 RGB: shot changes at `cuts`, blends over `gradual` spans."""
    starts = sorted([(c, "cut", c) for c in cuts] + [(g[0], g[2], g[1]) for g in gradual])
    shot, began, events = 0, 0, iter(starts)
    event = next(events, None)
    for k in range(n_frames):
        if event is not None and k == event[0] and event[1] == "cut":
            shot, began, event = shot + 1, k, next(events, None)
        if event is not None and event[1] != "cut" and event[0] <= k <= event[2]:
            first, kind, last = event
            a = (k - first + 1) / (last - first + 2)  # 0 < a < 1 across the span
            old, new = shots.picture(shot, k - began), shots.picture(shot + 1, 0)
            if kind == "dissolve":
                image = (1 - a) * old + a * new
            else:  # down to black over the first half, up from black over the second
                image = old * max(0.0, 1 - 2 * a) if a < 0.5 else new * (2 * a - 1)
            if k == last:
                shot, began, event = shot + 1, k + 1, next(events, None)
        else:
            image = shots.picture(shot, k - began)
        yield np.clip(image, 0, 255).astype(np.uint8)


def write_video(
    path: Path, frames, rate: Fraction, size, audio: np.ndarray, preset: str, x264: str = ""
):
    """H.264 + AAC; `x264`: extra x264 parameters ("scenecut=0": no keyframes at cuts)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {
            "preset": preset,
            "threads": "1",
            **({"x264-params": x264} if x264 else {}),
        }
        astream = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        astream.options = {"aac_coder": "fast"}
        for index, picture in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        encode_audio(container, astream, audio, SAMPLE_RATE)


def build_video(
    out: Path,
    name: str,
    rate: Fraction,
    seconds: float,
    seed: int,
    size=(320, 180),
    preset="veryfast",
) -> dict:
    rng = np.random.default_rng(seed)
    audio, cues = speech_timeline(seconds, rng)
    fps = float(rate)
    n_frames = int(seconds * fps)
    cuts = sorted({round(t * fps) for t in place_cuts(cues, seconds, rng)})
    gradual = schedule(cuts, n_frames, fps, rng)
    out.mkdir(parents=True, exist_ok=True)
    frames = pictures(cuts, gradual, n_frames, Shots(size, seed))
    write_video(out / f"{name}.mp4", frames, rate, size, np.clip(audio, -1, 1), preset)
    write_subtitles(cues, out / f"{name}.srt")
    truth = {"fps": [rate.numerator, rate.denominator], "cuts": cuts, "gradual": gradual}
    (out / f"{name}.cuts.json").write_text(json.dumps(truth) + "\n")
    return {"name": name, "video": f"{name}.mp4", "seconds": seconds, "cuts": len(cuts)}


def repeat_video(source: Path, target: Path, times: int) -> None:
    """`source`'s packets `times` times end to end, re-timed, not re-encoded: a long file
    that decodes exactly as `times` copies of the short one would (the cost benchmark)."""
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        packets = [(p, p.pts, p.dts) for p in src.demux() if p.dts is not None]
        span = {}  # per stream: from its first pts to the end of its last packet
        for index in streams:
            mine = [(pts, p.duration or 0) for p, pts, _ in packets if p.stream.index == index]
            span[index] = max(pts + d for pts, d in mine) - min(pts for pts, _ in mine)
        for copy in range(times):
            for packet, pts, dts in packets:
                index = packet.stream.index if copy == 0 else packet.stream_index
                packet.pts, packet.dts = pts + copy * span[index], dts + copy * span[index]
                packet.stream = streams[index]
                out.mux(packet)


def slide(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A lecture slide: a title and five lines of text on a light background, (H, W, 3)."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = size
    shade = tuple(int(v) for v in rng.integers(225, 256, 3))
    image = Image.new("RGB", size, shade)
    draw = ImageDraw.Draw(image)
    title = ImageFont.load_default(size=height // 12)
    body = ImageFont.load_default(size=height // 22)
    draw.text((width // 16, height // 14), SENTENCES[int(rng.integers(len(SENTENCES)))][:40],
              font=title, fill=(20, 40, 110))  # fmt: skip
    for line in range(5):
        text = "- " + SENTENCES[int(rng.integers(len(SENTENCES)))]
        draw.text(
            (width // 12, height // 4 + line * height // 10), text, font=body, fill=(30, 30, 30)
        )
    return np.asarray(image, np.float32)


def talk_pictures(n_frames: int, slide_starts: list[int], size, seed: int):
    """Slides changing at `slide_starts` (hard cuts), with the speaker in a small panning
    inset at the bottom right, as a recorded talk shows: (H, W, 3) uint8 frames."""
    rng = np.random.default_rng(seed)
    inset = Shots((size[0] // 4, size[1] // 4), seed)
    starts, current = set(slide_starts), slide(size, rng)
    for k in range(n_frames):
        if k in starts:
            current = slide(size, rng)
        image = current.copy()
        image[-size[1] // 4 :, -size[0] // 4 :] = inset.picture(
            0, k
        )  # one long shot of the speaker
        yield image.astype(np.uint8)


def build_talk_video(out: Path, name: str, seconds: float, seed: int, size=(1280, 720)) -> dict:
    """A recorded talk at 24 fps: slides every 25-35 s, speech throughout."""
    rng = np.random.default_rng(seed)
    audio, cues = speech_timeline(seconds, rng)
    rate = Fraction(24)
    n_frames = int(seconds * float(rate))
    cuts, at = [], float(rng.uniform(25, 35))
    while at < seconds - 1:
        cuts.append(round(at * float(rate)))
        at += float(rng.uniform(25, 35))
    out.mkdir(parents=True, exist_ok=True)
    frames = talk_pictures(n_frames, cuts, size, seed)
    write_video(out / f"{name}.mp4", frames, rate, size, np.clip(audio, -1, 1), "veryfast")
    write_subtitles(cues, out / f"{name}.srt")
    truth = {"fps": [rate.numerator, rate.denominator], "cuts": cuts, "gradual": []}
    (out / f"{name}.cuts.json").write_text(json.dumps(truth) + "\n")
    return {"name": name, "video": f"{name}.mp4", "seconds": seconds, "cuts": len(cuts)}


def build_set(out: Path, seconds: float = 120.0) -> list[dict]:
    """The accuracy set: one video per frame rate (skipped when already on disk)."""
    built = []
    for seed, (label, rate) in enumerate(RATES.items(), 1):
        name = f"shots_{label.replace('.', '')}"
        if (out / f"{name}.cuts.json").exists():
            built.append({"name": name, "video": f"{name}.mp4", "seconds": seconds})
            continue
        built.append(build_video(out, name, rate, seconds, seed))
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=120.0, help="per accuracy video")
    parser.add_argument("--long-minutes", type=float, default=0, help="also a 720p video this long")
    args = parser.parse_args()
    for video in build_set(args.out, args.seconds):
        print(video)
    if args.long_minutes:  # two minutes of 720p, repeated: encoding all of it takes hours here
        build_video(args.out, "part_720p", Fraction(24), 120.0, 9, (1280, 720))
        copies = round(args.long_minutes / 2)
        repeat_video(args.out / "part_720p.mp4", args.out / "long_720p.mp4", copies)
        print(f"{args.out / 'long_720p.mp4'}: {copies} x 2 minutes of 720p at 24 fps")
        # The same length of a recorded talk: what decoding skips where the picture is still.
        build_talk_video(args.out, "talk_part_720p", 120.0, 10)
        repeat_video(args.out / "talk_part_720p.mp4", args.out / "talk_720p.mp4", copies)
        print(f"{args.out / 'talk_720p.mp4'}: {copies} x 2 minutes of a 720p talk at 24 fps")


if __name__ == "__main__":
    main()
