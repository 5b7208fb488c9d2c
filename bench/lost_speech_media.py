"""Spoken test media with exactly known text, built to catch lost speech: sentence pairs
with short pauses, hesitations and fillers, in many espeak-ng voices and rates, clean or
under noise (20/10/5 dB SNR) or a music bed.

Each clip is a real H.264/AAC video; its transcript is what was spoken, fillers included
(the English normaliser removes them from both sides before scoring).
Needs Debian's `espeak-ng`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.non_speech_sounds import music, pink_noise, white_noise  # noqa: E402
from bench.readable_media import SAMPLE_RATE, voiced_span  # noqa: E402
from bench.speech_media import SENTENCES  # noqa: E402
from tests.media_factory import make_video  # noqa: E402

VOICES = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-us+f3",
    "en+m3",
    "en-gb+f2",
)
FILLERS = ("um", "uh", "er", "hmm")
CLIP_SECONDS = 45.0  # about; each clip ends after the pair that passes it
# (kind, SNR in dB): None is clean speech.
CONDITIONS = (
    ("clean", None),
    ("white", 20.0),
    ("pink", 10.0),
    ("white", 5.0),
    ("pink", 5.0),
    ("music", 10.0),
)


@dataclass
class Clip:
    name: str
    text: str  # everything spoken, in order
    seconds: float
    voice: str
    rate: int
    condition: str


def speak(text: str, voice: str, rate: int) -> np.ndarray:
    """espeak-ng saying `text` as float32 16 kHz mono, cut to its voiced samples."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    samples = np.frombuffer(wav[44:], dtype="<i2").astype(np.float32) / 32768.0  # 22050 Hz
    positions = np.arange(0, len(samples), 22050 / SAMPLE_RATE)
    voice_samples = np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)
    first, end = voiced_span(voice_samples)
    return voice_samples[first:end]


def _bed(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "white":
        return white_noise(n, rng)
    if kind == "pink":
        return pink_noise(n, rng)
    return music(n, rng)


def _mix(speech: np.ndarray, kind: str, snr: float | None, rng) -> np.ndarray:
    """Speech plus a bed at `snr` dB below the speech's active level."""
    if snr is None:
        return speech + (rng.standard_normal(len(speech)) * 3e-4).astype(np.float32)
    active = speech[np.abs(speech) > 1e-3]
    level = np.sqrt(np.mean(active**2)) if len(active) else 0.05
    bed = _bed(kind, len(speech), rng).astype(np.float32)
    bed *= level / (np.sqrt(np.mean(bed**2)) + 1e-9) / (10 ** (snr / 20))
    mixed = speech + bed
    return (mixed / max(1.0, float(np.abs(mixed).max()) / 0.95)).astype(np.float32)


def _pause(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), np.float32)


def clip_audio(index: int, rng: np.random.Generator, target: float) -> tuple[np.ndarray, Clip]:
    """About `target` seconds of sentence pairs (pauses of 0.2-2 s inside a pair, 1-3 s
    between pairs), every third pair with a hesitation ("um" and a pause mid-sentence)."""
    voice = VOICES[index % len(VOICES)]
    rate = int(rng.integers(130, 221))
    kind, snr = CONDITIONS[(index // len(VOICES) + index) % len(CONDITIONS)]
    pieces, words, total = [_pause(rng.uniform(0.5, 1.5))], [], 0.0
    pair = 0
    while total < target:
        for part in range(2):
            sentence = SENTENCES[int(rng.integers(len(SENTENCES)))]
            if pair % 3 == 2 and part == 1:
                split = sentence.split()
                cut = int(rng.integers(1, max(2, len(split) - 1)))
                filler = FILLERS[int(rng.integers(len(FILLERS)))]
                head, tail = " ".join(split[:cut]), " ".join(split[cut:])
                for text, gap in ((head, 0.3), (filler, rng.uniform(0.4, 1.2)), (tail, 0)):
                    pieces += [speak(text, voice, rate), _pause(gap)]
                    words.append(text)
            else:
                pieces.append(speak(sentence, voice, rate))
                words.append(sentence)
            pieces.append(_pause(rng.uniform(0.2, 2.0) if part == 0 else rng.uniform(1.0, 3.0)))
        pair += 1
        total = sum(len(p) for p in pieces) / SAMPLE_RATE
    speech = np.concatenate(pieces)
    audio = _mix(speech, kind, snr, rng)
    condition = "clean" if snr is None else f"{kind} {snr:g} dB"
    name = f"clip{index:02d}"
    return audio, Clip(name, " ".join(words), len(audio) / SAMPLE_RATE, voice, rate, condition)


def build_set(
    out: Path, count: int = 40, seconds: float = CLIP_SECONDS, seed: int = 0
) -> list[Clip]:
    """`count` clips of about `seconds` each as out/clipNN.mp4, with out/clips.json; reused
    when out/clips.json exists for the same settings."""
    manifest = out / "clips.json"
    settings = {"count": count, "seconds": seconds, "seed": seed}
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved.get("settings") == settings:
            return [Clip(**clip) for clip in saved["clips"]]
    out.mkdir(parents=True, exist_ok=True)
    clips = []
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        audio, clip = clip_audio(index, rng, seconds)
        make_video(str(out / f"{clip.name}.mp4"), clip.seconds, fps=5, size=(64, 48), audio=audio)
        clips.append(clip)
    manifest.write_text(json.dumps({"settings": settings, "clips": [asdict(c) for c in clips]}))
    return clips


if __name__ == "__main__":
    built = build_set(Path(sys.argv[1]), count=int(sys.argv[2]) if len(sys.argv) > 2 else 40)
    print(f"{len(built)} clips, {sum(c.seconds for c in built) / 60:.1f} min")
