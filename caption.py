"""Subtitle media files and folders: python caption.py INPUT... --out DIR [options].

Exit status: 0 when every file succeeded, 1 when any failed (the others are still done;
each failure is one line on stderr and in DIR/caption-failures.jsonl), 2 on bad usage.
Under torchrun (`torchrun --nproc_per_node K caption.py ...`) each process takes every
K-th file, on its own GPU when there are GPUs; process 0 writes the failure report.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

# Only what the arguments need is imported here: --help and a usage error answer at once,
# and PyTorch (~1.3 s to import) comes in main() once the usage is checked.
from app.chinese_text import CHINESE_SCRIPTS
from app.layout_args import add_layout_arguments, layout_options_from_args
from app.model_args import ModelCache, add_model_arguments, load_model_from_args
from app.screen_terms import VISUAL_CONTEXT_MODES
from data.media import MEDIA_EXTENSIONS
from data.shot_changes import SHOT_CHANGE_MODES
from data.subtitles import FORMATS
from model.named_models import AUTO, BASE, TINY_EN
from model.tokenizer import LANGUAGES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="media files and/or folders")
    parser.add_argument(
        "--out", required=True, type=Path, help="output folder (mirrors the inputs)"
    )
    parser.add_argument(
        "--format", default="srt", help=f"comma-separated: {','.join(FORMATS)} (default srt)"
    )
    parser.add_argument(
        "--extensions",
        default=None,
        help="comma-separated file extensions searched for in folders "
        f"(default {','.join(sorted(e.lstrip('.') for e in MEDIA_EXTENSIONS))})",
    )
    add_model_arguments(parser)
    parser.add_argument("--beam-size", type=int, default=5, help="1 = greedy (default 5)")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="speech chunks per forward pass (default 8)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="threads reading media ahead of the model (default 1; 0: the model's own thread "
        "reads)",
    )
    parser.add_argument(
        "--encoder-padding",
        type=float,
        default=None,
        metavar="SECONDS",
        help="on a CPU, encode each speech chunk with only this much of the silence Whisper "
        "pads a window with (e.g. 2), not the whole 30-s window: faster, WER in README "
        "(default: the whole window, as Whisper was trained)",
    )
    parser.add_argument(
        "--cuda-dtype",
        choices=("float16", "bfloat16", "float32"),
        default="float16",
        help="precision of the model on a GPU (autocast; default float16)",
    )
    parser.add_argument(
        "--no-vad",
        action="store_true",
        help="Whisper's own sequential long-form loop: no voice-activity chunks, no word "
        "timing, no batching",
    )
    parser.add_argument(
        "--fps", type=float, default=None, help="frames per second given to the frame encoder"
    )
    parser.add_argument(
        "--shot-changes",
        choices=SHOT_CHANGE_MODES,
        default="auto",
        help="auto: find the video's cuts and time cues to them (in-times on a cut, out-times "
        "the gap before it, none across a cut without speech); off: ignore the picture "
        "(default auto; --no-vad ignores the cuts)",
    )
    parser.add_argument(
        "--visual-context",
        choices=VISUAL_CONTEXT_MODES,
        default="auto",
        help="auto: read the text on screen (OCR) and decode the speech with the terms shown "
        "around it, so names and jargon are spelled as on the slide; off: sound only "
        "(default auto; --no-vad ignores the screen)",
    )
    parser.add_argument(
        "--language",
        default=None,
        help="language code of the speech, e.g. en, zh, es (default: detected per file by "
        "multilingual models)",
    )
    parser.add_argument(
        "--task",
        choices=("transcribe", "translate"),
        default="transcribe",
        help="translate: subtitles in English whatever the speech (multilingual models)",
    )
    parser.add_argument(
        "--chinese",
        choices=CHINESE_SCRIPTS,
        default=CHINESE_SCRIPTS[0],
        help="script of Chinese subtitles (default simplified; as-is: as the model wrote it)",
    )
    add_layout_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="redo files whose outputs exist")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, no summary")
    args = parser.parse_args(argv)
    args.formats = tuple(f.strip().lower() for f in args.format.split(",") if f.strip())
    unknown = [f for f in args.formats if f not in FORMATS]
    if unknown or not args.formats:
        parser.error(
            f"--format: unknown format {', '.join(unknown) or '(none)'}; choose from {','.join(FORMATS)}"
        )
    if args.extensions is not None:
        args.extensions = frozenset(
            "." + e.strip().lower().lstrip(".") for e in args.extensions.split(",") if e.strip()
        )
        if not args.extensions:
            parser.error("--extensions: give at least one extension, e.g. mp4,mkv")
    if args.beam_size < 1:
        parser.error("--beam-size must be at least 1")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if args.workers < 0:
        parser.error("--workers must be 0 or more")
    if args.encoder_padding is not None and not 0 <= args.encoder_padding <= 30:
        parser.error("--encoder-padding must be between 0 and 30 seconds")
    if args.fps is not None and args.fps <= 0:
        parser.error("--fps must be positive")
    if args.language is not None and args.language not in LANGUAGES:
        parser.error(f"--language: unknown language {args.language!r}")
    args.layout = layout_options_from_args(args, parser)
    return args


def route_counts(routes: list[tuple[str, str | None]]) -> str:
    """' (en: 2 by tiny.en, zh: 1 by base)' for the summary line; '' when nothing was done."""
    counts: dict[tuple[str, str], int] = {}
    for model, language in routes:
        key = (language or "no speech", model)
        counts[key] = counts.get(key, 0) + 1
    parts = [f"{lang}: {n} by {model}" for (lang, model), n in sorted(counts.items())]
    return f" ({', '.join(parts)})" if parts else ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    from app.distributed import Ranks
    from app.folder import caption_files, find_jobs, media_seconds, write_failure_report
    from app.options import SubtitleOptions
    from app.subtitle_run import BatchOptions, unheard_line
    from model.search import DecodingOptions

    ranks = Ranks.from_environment()
    if args.device == "auto" and ranks.world > 1:
        args.device = ranks.device()
    auto = args.model == AUTO
    if auto:
        models = ModelCache(args, "caption.py")
        try:  # fail now, not after the first file: base detects, tiny.en does English
            if args.language is None:
                models.detector(BASE)
            else:
                models(TINY_EN if args.language == "en" else BASE)
        except SystemExit as stop:
            return stop.code
    else:
        loaded = load_model_from_args(args, "caption.py")
        if loaded is None:
            return 2
        if (
            args.language
            and loaded.tokenizer.multilingual
            and args.language not in loaded.tokenizer.language_tokens
        ):
            print(f"caption.py: unknown language {args.language!r}", file=sys.stderr)
            return 2
    options = SubtitleOptions(
        decoding=DecodingOptions(beam_size=args.beam_size, language=args.language, task=args.task),
        layout=args.layout,
        vad=not args.no_vad,
        fps=args.fps,
        chinese=args.chinese,
        shot_changes=args.shot_changes,
        visual_context=args.visual_context,
    )
    found = find_jobs(args.inputs, args.extensions) if args.extensions else find_jobs(args.inputs)
    all_jobs, problems = found
    jobs = ranks.share(all_jobs)
    show = not args.quiet and ranks.rank == 0
    if ranks.rank == 0:
        for _, error in problems:
            print(error, file=sys.stderr)
    files_bar = tqdm(total=len(jobs), unit="file", disable=not show, file=sys.stderr,
                     dynamic_ncols=True, position=0, desc="files")  # fmt: skip
    seconds_bar = tqdm(total=round(media_seconds(jobs), 1), unit="s", disable=not show,
                       file=sys.stderr, dynamic_ncols=True, position=1, desc="media")  # fmt: skip

    def on_file_done(job, error, unheard):
        if error:
            tqdm.write(error, file=sys.stderr)
        if unheard:
            tqdm.write(unheard_line(job.source, unheard), file=sys.stderr)
        files_bar.update(1)

    def on_seconds(seconds: float):
        seconds_bar.update(round(seconds, 1))

    batch = BatchOptions(args.batch_size, args.workers, args.cuda_dtype, args.encoder_padding)
    if auto:
        from app.language_routing import caption_files_auto

        try:
            summary = caption_files_auto(
                jobs, models, args.out, args.formats, options, args.overwrite, on_file_done,
                batch, on_seconds, models.detector,
            )  # fmt: skip
        except SystemExit as stop:  # a model needed only now could not be loaded
            return stop.code
    else:
        summary = caption_files(
            jobs, loaded, args.out, args.formats, options, args.overwrite, on_file_done, batch,
            on_seconds,
        )  # fmt: skip
    seconds_bar.close()
    files_bar.close()
    failed = problems + ranks.gather(summary.failed)
    damaged = ranks.gather(summary.damaged)
    done, skipped = ranks.total(len(summary.done)), ranks.total(len(summary.skipped))
    unheard = ranks.gather(summary.unheard)
    routes = route_counts(ranks.gather(list(summary.routes.values())))
    if ranks.rank == 0:
        write_failure_report(args.out, failed)
        for _, line in damaged:  # subtitled, as far as the file could be read
            print(line, file=sys.stderr)
        if not args.quiet:
            some_damaged = f" ({len(damaged)} from damaged media)" if damaged else ""
            print(
                f"caption.py: {done} subtitled{routes}{some_damaged}, {skipped} already done, "
                f"{len(failed)} failed; outputs in {args.out}",
                file=sys.stderr,
            )
        if unheard:  # said even with --quiet: the subtitles leave out speech
            stretches = sum(len(spans) for _, spans in unheard)
            seconds = sum(end - start for _, spans in unheard for start, end in spans)
            print(
                f"caption.py: {stretches} stretch(es) of detected speech ({seconds:.1f} s) in "
                f"{len(unheard)} file(s) got no words (times above and in the JSON output)",
                file=sys.stderr,
            )
    ranks.close()
    return 1 if failed else 0


def exit_now(status: int) -> None:
    """End the process with `status` once the outputs are written and closed, skipping the
    interpreter's teardown: unloading PyTorch's and ONNX Runtime's libraries took ~0.5 s of
    every run (README, start-up)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    exit_now(main())
