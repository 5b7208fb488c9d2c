"""Sounds that are not speech, for testing that subtitles stay quiet over them: silence,
white and pink noise at a moderate level, and music-like tones (chords, a sine melody, a
drum-like pulse, and all three together). Float32 mono at 16 kHz, seeded by the caller."""

from __future__ import annotations

import numpy as np

from data.media import SAMPLE_RATE

NOISE_RMS = 0.03  # about -30 dBFS: clearly audible, a little under the speech (RMS ~0.04-0.08)
MUSIC_PEAK = 0.3

NON_SPEECH_KINDS = ("silence", "white_noise", "pink_noise", "chords", "melody", "drums", "music")

# Semitones above A3 (220 Hz) of a few common triads and of a pentatonic scale.
_CHORDS = ((3, 7, 10), (0, 3, 7), (-4, 0, 3), (-2, 2, 5), (5, 8, 12))
_PENTATONIC = (0, 3, 5, 7, 10, 12, 15, 17)


def _hz(semitones: float, base: float = 220.0) -> float:
    return base * 2 ** (semitones / 12)


def _note(freq: float, seconds: float, attack: float = 0.02, decay: float = 3.0) -> np.ndarray:
    """A sine with a weaker octave, a short attack and an exponential decay."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)
    envelope = np.minimum(t / attack, 1.0) * np.exp(-decay * t)
    return (tone * envelope).astype(np.float32)


def _normalised(samples: np.ndarray, peak: float) -> np.ndarray:
    top = np.abs(samples).max()
    return (samples * (peak / top if top > 0 else 0.0)).astype(np.float32)


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return (rng.standard_normal(n) * NOISE_RMS).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls as 1/f: white noise shaped by 1/sqrt(f) in the spectrum."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum /= np.sqrt(np.maximum(freqs, 20.0))  # flat below 20 Hz, no DC blow-up
    noise = np.fft.irfft(spectrum, n)
    return (noise / noise.std() * NOISE_RMS).astype(np.float32)


def _one_after_another(n: int, rng: np.random.Generator, shortest: float, longest: float, sound):
    """n samples of sounds one after another, each lasting between `shortest` and `longest`
    seconds; sound(seconds) -> its samples."""
    out = np.zeros(n, np.float32)
    at = 0
    while at < n:
        length = min(int(rng.uniform(shortest, longest) * SAMPLE_RATE), n - at)
        out[at : at + length] = sound(length / SAMPLE_RATE)
        at += length
    return out


def chords(n: int, rng: np.random.Generator) -> np.ndarray:
    """Triads held 1.5-2.5 s each, one after another."""

    def triad(seconds: float) -> np.ndarray:
        notes = [_note(_hz(s), seconds, decay=0.8) for s in _CHORDS[rng.integers(len(_CHORDS))]]
        return sum(notes[1:], notes[0])

    return _normalised(_one_after_another(n, rng, 1.5, 2.5, triad), MUSIC_PEAK)


def melody(n: int, rng: np.random.Generator) -> np.ndarray:
    """Sine notes of a pentatonic scale, 0.2-0.5 s each."""

    def note(seconds: float) -> np.ndarray:
        step = _PENTATONIC[rng.integers(len(_PENTATONIC))]
        return _note(_hz(step, 440.0), seconds, decay=4.0)

    out = _one_after_another(n, rng, 0.2, 0.5, note)
    return _normalised(out, MUSIC_PEAK)


def drums(n: int, rng: np.random.Generator) -> np.ndarray:
    """A kick (a sine gliding down from 120 to 50 Hz) on each beat and a short noise tick
    between beats, at 90-130 beats per minute."""
    beat = int(60 / rng.uniform(90, 130) * SAMPLE_RATE)
    t = np.arange(int(0.25 * SAMPLE_RATE)) / SAMPLE_RATE
    kick = np.sin(2 * np.pi * (50 * t + 70 * (1 - np.exp(-t * 30)) / 30)) * np.exp(-t * 14)
    tick_length = int(0.03 * SAMPLE_RATE)
    tick = rng.standard_normal(tick_length) * np.exp(-np.arange(tick_length) / 80) * 0.3
    out = np.zeros(n + len(kick), np.float32)
    for at in range(0, n, beat):
        out[at : at + len(kick)] += kick
        half = at + beat // 2
        out[half : half + len(tick)] += tick[: max(0, len(out) - half)]
    return _normalised(out[:n], MUSIC_PEAK)


def music(n: int, rng: np.random.Generator) -> np.ndarray:
    """Chords, melody and drums together."""
    mix = 0.6 * chords(n, rng) + 0.5 * melody(n, rng) + 0.6 * drums(n, rng)
    return _normalised(mix, MUSIC_PEAK)


def non_speech(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """`seconds` of `kind` (one of NON_SPEECH_KINDS), float32 at 16 kHz."""
    n = round(seconds * SAMPLE_RATE)
    if kind == "silence":
        return np.zeros(n, np.float32)  # the track's noise floor is added on top
    makers = {
        "white_noise": white_noise,
        "pink_noise": pink_noise,
        "chords": chords,
        "melody": melody,
        "drums": drums,
        "music": music,
    }
    if kind not in makers:
        raise ValueError(f"unknown non-speech kind {kind!r} (one of {', '.join(NON_SPEECH_KINDS)})")
    return makers[kind](n, rng)
