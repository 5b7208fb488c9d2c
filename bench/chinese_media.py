"""Longer Mandarin test media made from one real clip: AISHELL-1 BAC009S0764W0121 (4.2 s of
read speech, Apache-2.0) repeated with pauses, at other speeds and pitches, under noise.

    python bench/chinese_media.py --out DIR [--repeats 12] [--seed 0]

Writes DIR/mandarin-<repeats>x-seed<seed>.wav and a reference .srt beside it: one cue per
repetition, timed on the clip's speech (silero-vad on the original clip, scaled with the
speed), with the clip's transcript. Each repetition draws, with the seed:
- speed: resampled by 0.85-1.15 (tempo and pitch change together, as a faster talker),
- pitch: shifted by -3..+3 semitones at the same tempo (torchaudio's phase vocoder),
- noise: none, or white noise at 20, 10 or 5 dB SNR,
- the pause before it: 0.8-3 s of low room noise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.subtitles import Cue, write_subtitles  # noqa: E402

SR = 16000
CLIP = ROOT / "examples" / "aishell1_BAC009S0764W0121.wav"
TRANSCRIPT = "甚至出现交易几乎停滞的情况"
SNRS = (None, 20.0, 10.0, 5.0)


def clip_speech(audio: np.ndarray) -> tuple[float, float]:
    """(start, end) seconds of the speech in the clip, by silero-vad."""
    from app.speech_regions import SpeechOptions, speech_probabilities, speech_regions

    regions = speech_regions(speech_probabilities([audio]), len(audio) / SR, SpeechOptions())
    return regions[0][0], regions[-1][1]


def varied(audio: np.ndarray, speed: float, semitones: float, snr: float | None, rng) -> np.ndarray:
    """The clip at `speed` (resampled), shifted by `semitones`, with noise at `snr` dB."""
    import torch
    import torchaudio.functional as F

    wave = torch.from_numpy(audio)[None]
    if speed != 1.0:  # played faster: fewer samples at the same rate
        wave = F.resample(wave, round(SR * speed), SR)
    if semitones:
        wave = F.pitch_shift(wave, SR, semitones)
    out = wave[0].numpy().astype(np.float32)
    if snr is not None:
        power = float(np.mean(out**2))
        out = out + rng.standard_normal(len(out)).astype(np.float32) * np.sqrt(
            power / 10 ** (snr / 10)
        )
    return np.clip(out, -1, 1)


def make(out: Path, repeats: int, seed: int) -> tuple[Path, Path]:
    from data.media import load_audio
    from tests.media_factory import make_audio

    rng = np.random.default_rng(seed)
    clip = load_audio(CLIP)
    speech_start, speech_end = clip_speech(clip)
    pieces, cues, at = [], [], 0.0
    for _ in range(repeats):
        pause = rng.uniform(0.8, 3.0)
        pieces.append((rng.standard_normal(round(pause * SR)) * 3e-4).astype(np.float32))
        at += pause
        speed = float(rng.uniform(0.85, 1.15))
        semitones = float(rng.integers(-3, 4))
        snr = SNRS[int(rng.integers(len(SNRS)))]
        piece = varied(clip, speed, semitones, snr, rng)
        cues.append(
            Cue(round(at + speech_start / speed, 3), round(at + speech_end / speed, 3), TRANSCRIPT)
        )
        pieces.append(piece)
        at += len(piece) / SR
    pieces.append(np.zeros(SR, np.float32))
    out.mkdir(parents=True, exist_ok=True)
    media = out / f"mandarin-{repeats}x-seed{seed}.wav"
    make_audio(media, np.concatenate(pieces), SR)
    reference = write_subtitles(cues, media.with_suffix(".srt"))
    return media, reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    media, reference = make(args.out, args.repeats, args.seed)
    print(f"{media}\n{reference}")


if __name__ == "__main__":
    main()
