"""Speech media for benchmarks: varied sentences spoken by espeak-ng, with pauses, as real
H.264/AAC video files whose exact transcript is known.

Needs Debian's `espeak-ng` (`apt-get install -y espeak-ng`). The sentences are Harvard
sentences (IEEE 1969 recommended practice for speech quality measurements).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.media import SAMPLE_RATE  # noqa: E402
from tests.media_factory import make_video  # noqa: E402

SENTENCES = """The birch canoe slid on the smooth planks.
Glue the sheet to the dark blue background.
It is easy to tell the depth of a well.
These days a chicken leg is a rare dish.
Rice is often served in round bowls.
The juice of lemons makes fine punch.
The box was thrown beside the parked truck.
The hogs were fed chopped corn and garbage.
Four hours of steady work faced us.
A large size in stockings is hard to sell.
The boy was there when the sun rose.
A rod is used to catch pink salmon.
The source of the huge river is the clear spring.
Kick the ball straight and follow through.
Help the woman get back to her feet.
A pot of tea helps to pass the evening.
Smoky fires lack flame and heat.
The soft cushion broke the man's fall.
The salt breeze came across from the sea.
The girl at the booth sold fifty bonds.
The small pup gnawed a hole in the sock.
The fish twisted and turned on the bent hook.
Press the pants and sew a button on the vest.
The swan dive was far short of perfect.
The beauty of the view stunned the young boy.
Two blue fish swam in the tank.
Her purse was full of useless trash.
The colt reared and threw the tall rider.
It snowed, rained, and hailed the same morning.
Read verse out loud for pleasure.
Hoist the load to your left shoulder.
Take the winding path to reach the lake.
Note closely the size of the gas tank.
Wipe the grease off his dirty face.
Mend the coat before you go out.
The wrist was badly strained and hung limp.
The stray cat gave birth to kittens.
The young girl gave no clear response.
The meal was cooked before the bell rang.
What joy there is in living.""".splitlines()


def speak(text: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng's voice for `text` as float32 16 kHz mono."""
    wav = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", str(speed), "-p", str(pitch), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    samples = np.frombuffer(wav[44:], dtype="<i2").astype(np.float32) / 32768.0  # 22050 Hz
    positions = np.arange(0, len(samples), 22050 / SAMPLE_RATE)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def speech_track(seconds: float, seed: int = 0) -> tuple[np.ndarray, str]:
    """(samples, transcript): sentences in random order, voices and pauses, cut before
    `seconds` at a sentence boundary and padded with quiet noise to exactly `seconds`."""
    rng = np.random.default_rng(seed)
    target = int(seconds * SAMPLE_RATE)
    pieces, words, total = [], [], 0
    while True:
        sentence = SENTENCES[rng.integers(len(SENTENCES))]
        voice = speak(sentence, int(rng.integers(140, 190)), int(rng.integers(30, 70)))
        pause = (rng.standard_normal(int(rng.uniform(0.3, 2.5) * SAMPLE_RATE)) * 1e-3).astype(
            np.float32
        )
        if total + len(voice) + len(pause) > target:
            break
        pieces += [voice * rng.uniform(0.5, 1.0), pause]
        words.append(sentence)
        total += len(voice) + len(pause)
    pieces.append((rng.standard_normal(target - total) * 1e-3).astype(np.float32))
    return np.concatenate(pieces).astype(np.float32), " ".join(words)


def make_speech_video(path: Path, seconds: float, seed: int = 0) -> tuple[Path, str]:
    """A small H.264/AAC video of `seconds` of speech; returns the path and its transcript."""
    audio, transcript = speech_track(seconds, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_video(str(path), seconds, fps=5, size=(64, 48), audio=audio)
    return path, transcript
