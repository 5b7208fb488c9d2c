"""Subtitle media files and folders: python caption.py INPUT... --out DIR [options].

Exit status: 0 when every file succeeded, 1 when any failed (the others are still done;
each failure is one line on stderr and in DIR/caption-failures.jsonl), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.folder import OUTPUT_FORMATS, caption_files, find_jobs, write_failure_report
from app.layout import LayoutOptions
from app.model_args import add_model_arguments, load_model_from_args
from app.pipeline import SubtitleOptions
from model.search import DecodingOptions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="media files and/or folders")
    parser.add_argument(
        "--out", required=True, type=Path, help="output folder (mirrors the inputs)"
    )
    parser.add_argument(
        "--format", default="srt", help="comma-separated: srt,vtt,json,txt (default srt)"
    )
    add_model_arguments(parser)
    parser.add_argument("--beam-size", type=int, default=5, help="1 = greedy (default 5)")
    parser.add_argument(
        "--fps", type=float, default=None, help="frames per second given to the frame encoder"
    )
    parser.add_argument(
        "--language", default=None, help="language code for multilingual models (default: detect)"
    )
    parser.add_argument("--task", choices=("transcribe", "translate"), default="transcribe")
    parser.add_argument("--max-line-width", type=int, default=42)
    parser.add_argument("--max-lines", type=int, default=2)
    parser.add_argument("--overwrite", action="store_true", help="redo files whose outputs exist")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    args.formats = tuple(f.strip().lower() for f in args.format.split(",") if f.strip())
    unknown = [f for f in args.formats if f not in OUTPUT_FORMATS]
    if unknown or not args.formats:
        parser.error(
            f"--format: unknown format {', '.join(unknown) or '(none)'}; choose from {','.join(OUTPUT_FORMATS)}"
        )
    if args.beam_size < 1:
        parser.error("--beam-size must be at least 1")
    if args.fps is not None and args.fps <= 0:
        parser.error("--fps must be positive")
    if args.max_line_width < 10 or args.max_lines < 1:
        parser.error("--max-line-width must be at least 10 and --max-lines at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

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
        layout=LayoutOptions(args.max_line_width, args.max_lines),
        fps=args.fps,
    )
    jobs, problems = find_jobs(args.inputs)
    for _, error in problems:
        print(error, file=sys.stderr)
    bar = tqdm(
        total=len(jobs), unit="file", disable=args.quiet, file=sys.stderr, dynamic_ncols=True
    )

    def on_file_done(job, error):
        if error:
            tqdm.write(error, file=sys.stderr)
        bar.update(1)

    summary = caption_files(
        jobs, loaded, args.out, args.formats, options, args.overwrite, on_file_done
    )
    bar.close()
    failed = problems + summary.failed
    write_failure_report(args.out, failed)
    if not args.quiet:
        print(
            f"caption.py: {len(summary.done)} subtitled, {len(summary.skipped)} already done, "
            f"{len(failed)} failed; outputs in {args.out}",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
