"""A test set for readable subtitles (issue 6): videos that mix espeak-ng speech with long
stretches of silence, noise and music-like tones, and videos with no speech at all, each with
exact reference cues and the list of its non-speech stretches.

    python bench/readable_media.py --out DIR [--quick]

For every video NAME.mp4 it writes NAME.srt (one cue per sentence, from the first to the
last voiced sample of that sentence; empty for a video without speech) and NAME.json (the
non-speech stretches: start, end, kind). `manifest.json` lists the videos. The same
arguments always give the same samples (seeded), so a set on disk can be reused.

The reference is exact because the timeline is built from pieces: each sentence is spoken
alone, its leading and trailing silence trimmed by amplitude, then placed at a known
sample. Everything lies on a quiet noise floor (about -60 dBFS), so "silence" is as
quiet as the pauses between sentences, not digital zero.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.non_speech_sounds import non_speech  # noqa: E402
from bench.speech_media import SENTENCES, speak  # noqa: E402
from data.media import SAMPLE_RATE  # noqa: E402
from data.subtitles import Cue, write_subtitles  # noqa: E402
from tests.media_factory import make_video  # noqa: E402

NOISE_FLOOR = 1e-3  # standard deviation of the floor under the whole track
VOICED_FRAME = 0.005  # seconds per frame when looking for where the voice starts and ends
VOICED_RELATIVE_LEVEL = 0.01  # a frame is voiced above 1% (-40 dB) of the loudest frame's RMS
FPS, FRAME_SIZE = 5, (64, 48)  # small pictures at a low rate keep the set to a few MB
SET_VERSION = 1  # bump when the generated media change, so stale sets are rebuilt


@dataclass(frozen=True)
class Stretch:
    """A stretch of sound that is not speech, in seconds on the video's clock."""

    start: float
    end: float
    kind: str


@dataclass(frozen=True)
class VideoSpec:
    name: str
    seconds: float
    seed: int
    kinds: tuple[str, ...]  # non-speech kinds, used in turn
    speech: bool = True  # False: the whole video is non-speech stretches of `kinds`
    stretch_seconds: tuple[float, float] = (10.0, 30.0)
    run_sentences: tuple[int, int] = (3, 8)  # sentences per run of speech, inclusive


FULL_SET = (
    VideoSpec("mix_a", 240, 1, ("silence", "white_noise", "chords", "pink_noise", "drums")),
    VideoSpec("mix_b", 210, 2, ("melody", "silence", "music", "white_noise")),
    VideoSpec("mix_c", 180, 3, ("pink_noise", "music", "silence", "chords", "melody")),
    VideoSpec("none_silence", 60, 4, ("silence",), speech=False),
    VideoSpec("none_noise", 60, 5, ("white_noise", "pink_noise"), speech=False),
    VideoSpec("none_music", 60, 6, ("chords", "melody", "drums", "music"), speech=False),
)
QUICK_SET = (
    VideoSpec(
        "mix_quick",
        36,
        1,
        ("music", "white_noise"),
        stretch_seconds=(5.0, 7.0),
        run_sentences=(2, 3),
    ),
    VideoSpec("none_quick", 12, 2, ("silence", "music"), speech=False, stretch_seconds=(5, 7)),
)


def voiced_span(samples: np.ndarray) -> tuple[int, int]:
    """(first, end) sample indices of the voiced part: the first and last frame whose RMS is
    above VOICED_RELATIVE_LEVEL of the loudest frame's (espeak pads its speech with silence)."""
    frame = int(VOICED_FRAME * SAMPLE_RATE)
    count = len(samples) // frame
    rms = np.sqrt((samples[: count * frame].reshape(count, frame) ** 2).mean(axis=1))
    voiced = np.nonzero(rms > VOICED_RELATIVE_LEVEL * rms.max())[0]
    return int(voiced[0] * frame), int((voiced[-1] + 1) * frame)


def spoken_sentence(text: str, rng: np.random.Generator) -> np.ndarray:
    """`text` in a random espeak-ng voice and loudness, cut to its voiced samples."""
    voice = speak(text, int(rng.integers(140, 190)), int(rng.integers(30, 70)))
    first, end = voiced_span(voice)
    return voice[first:end] * np.float32(rng.uniform(0.5, 1.0))


class Timeline:
    """Samples laid end to end, remembering where each sentence and stretch went."""

    def __init__(self) -> None:
        self.pieces: list[np.ndarray] = []
        self.length = 0
        self.cues: list[Cue] = []
        self.stretches: list[Stretch] = []

    @property
    def seconds(self) -> float:
        return self.length / SAMPLE_RATE

    def add(self, samples: np.ndarray) -> None:
        self.pieces.append(samples.astype(np.float32))
        self.length += len(samples)

    def pause(self, seconds: float) -> None:
        self.add(np.zeros(round(seconds * SAMPLE_RATE), np.float32))

    def sentence(self, text: str, samples: np.ndarray) -> None:
        start = self.seconds
        self.add(samples)
        self.cues.append(Cue(round(start, 3), round(self.seconds, 3), text))

    def stretch(self, kind: str, samples: np.ndarray) -> None:
        start = self.seconds
        self.add(samples)
        self.stretches.append(Stretch(round(start, 3), round(self.seconds, 3), kind))

    def audio(self, total_seconds: float, rng: np.random.Generator) -> np.ndarray:
        """The track padded to `total_seconds`, with the noise floor added throughout."""
        track = np.zeros(round(total_seconds * SAMPLE_RATE), np.float32)
        joined = np.concatenate(self.pieces) if self.pieces else track[:0]
        track[: len(joined)] = joined[: len(track)]
        return track + (rng.standard_normal(len(track)) * NOISE_FLOOR).astype(np.float32)


def _speech_mix(spec: VideoSpec, rng: np.random.Generator) -> Timeline:
    """Runs of sentences with short pauses, each run followed by one non-speech stretch,
    until the next run and stretch would not fit; the video then ends on quiet floor."""
    timeline = Timeline()
    timeline.pause(rng.uniform(0.5, 1.5))
    kinds = iter(spec.kinds * 100)
    # Sentences are dealt from shuffled decks, so none repeats before all have been said.
    deck = iter([SENTENCES[i] for _ in range(20) for i in rng.permutation(len(SENTENCES))])
    while True:
        low, high = spec.run_sentences
        run = [next(deck) for _ in range(int(rng.integers(low, high + 1)))]
        voices = [spoken_sentence(text, rng) for text in run]
        pauses = rng.uniform(0.2, 0.9, len(run))  # after each sentence: speech follows speech
        stretch_seconds = rng.uniform(*spec.stretch_seconds)
        run_seconds = sum(len(v) for v in voices) / SAMPLE_RATE + pauses.sum()
        if timeline.seconds + run_seconds + 1.0 > spec.seconds:
            break
        for text, voice, pause in zip(run, voices, pauses, strict=True):
            timeline.sentence(text, voice)
            timeline.pause(pause)
        if timeline.seconds + stretch_seconds + 2.0 > spec.seconds:
            break
        timeline.pause(rng.uniform(0.3, 0.8))
        kind = next(kinds)
        timeline.stretch(kind, non_speech(kind, stretch_seconds, rng))
        timeline.pause(rng.uniform(0.5, 1.0))
    return timeline


def _no_speech(spec: VideoSpec, rng: np.random.Generator) -> Timeline:
    """Non-speech stretches of `spec.kinds` in turn, end to end, filling the video."""
    timeline = Timeline()
    kinds = iter(spec.kinds * 100)
    while timeline.seconds < spec.seconds - 0.01:
        seconds = min(rng.uniform(*spec.stretch_seconds), spec.seconds - timeline.seconds)
        kind = next(kinds)
        timeline.stretch(kind, non_speech(kind, seconds, rng))
    return timeline


def build_video(spec: VideoSpec, out: Path) -> dict:
    """Write spec.name + .mp4/.srt/.json into `out`; returns its manifest entry."""
    rng = np.random.default_rng(spec.seed)
    timeline = _speech_mix(spec, rng) if spec.speech else _no_speech(spec, rng)
    audio = np.clip(timeline.audio(spec.seconds, rng), -1.0, 1.0)
    out.mkdir(parents=True, exist_ok=True)
    video = out / f"{spec.name}.mp4"
    make_video(video, spec.seconds, fps=FPS, size=FRAME_SIZE, audio=audio)
    write_subtitles(timeline.cues, out / f"{spec.name}.srt")
    stretches = [asdict(s) for s in timeline.stretches]
    (out / f"{spec.name}.json").write_text(json.dumps({"non_speech": stretches}, indent=1) + "\n")
    return {
        "name": spec.name,
        "video": video.name,
        "reference": f"{spec.name}.srt",
        "non_speech": f"{spec.name}.json",
        "has_speech": bool(timeline.cues),
        "seconds": spec.seconds,
    }


def build_set(out: Path, quick: bool = False) -> dict:
    """Build the whole set into `out` (or reuse it when its manifest matches) and return the
    manifest: {"version", "quick", "videos": [entry, ...]}."""
    out = Path(out)
    manifest_path = out / "manifest.json"
    specs = QUICK_SET if quick else FULL_SET
    wanted = {"version": SET_VERSION, "quick": quick, "specs": [asdict(s) for s in specs]}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        complete = all((out / v["video"]).exists() for v in manifest.get("videos", []))
        if complete and {k: manifest.get(k) for k in wanted} == json.loads(json.dumps(wanted)):
            return manifest
    manifest = {**wanted, "videos": [build_video(spec, out) for spec in specs]}
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def read_stretches(path: Path) -> list[Stretch]:
    """The non-speech stretches listed in a NAME.json of this set."""
    return [Stretch(**row) for row in json.loads(Path(path).read_text())["non_speech"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the set")
    parser.add_argument("--quick", action="store_true", help="a short set (under a minute)")
    args = parser.parse_args()
    manifest = build_set(args.out, args.quick)
    for video in manifest["videos"]:
        print(f"{args.out / video['video']}: {video['seconds']:.0f} s")


if __name__ == "__main__":
    main()
