"""Score subtitles or captions against references with the metrics papers report.

    python score.py --hyp H --ref R [--json OUT.json] [--csv OUT.csv] [--metrics LIST]
                    [--media FILE_OR_DIR]
                    [--max-line-width N --max-lines N --max-cps CPS --max-duration S ...]

Error rates and layout rules follow each file's language (--language, or the reference's
script: Chinese, Japanese and Korean get CER only). H and R: two subtitle files (SRT, VTT or JSON cues), two folders of them (paired by
relative path without extension), or two caption sets in JSON. Prints a Markdown table;
for subtitles a second one: the hypothesis' layout (share of cues within each rule the
layout flags set) and timing against the reference cues; with --media, also the cues
that cross a cut with no speech across it and the cue edges near a cut but off it. Exit
status 1 for an unreadable or malformed input file, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import sys

from app.layout_args import add_layout_arguments, layout_options_from_args
from data.media import MediaError
from data.subtitles import SubtitleError
from evaluation.caption_metrics import java_missing_note
from evaluation.caption_sets import CaptionSetError
from evaluation.metric_names import ALL_METRICS
from evaluation.report import markdown_table, write_csv, write_json
from evaluation.scoring import UsageError, needs_java, score_paths
from model.tokenizer import LANGUAGES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="score.py",
        description="Score hypothesis subtitles or captions against references (figures on the 0-100 scale).",
    )
    parser.add_argument(
        "--hyp", required=True, help="hypothesis: subtitle file, folder, or caption-set JSON"
    )
    parser.add_argument("--ref", required=True, help="reference: same kind as --hyp")
    parser.add_argument("--json", metavar="OUT.json", help="also write the full report as JSON")
    parser.add_argument(
        "--csv", metavar="OUT.csv", help="also write one row per file plus the corpus as CSV"
    )
    parser.add_argument(
        "--metrics",
        metavar="LIST",
        help=f"comma-separated subset of: {','.join(ALL_METRICS)} (default: all that apply)",
    )
    parser.add_argument(
        "--language",
        metavar="CODE",
        help="language of the subtitles, e.g. zh (CER, Chinese layout rules) or es; default: "
        "from each reference's script (Chinese, Japanese, Korean), else English rules",
    )
    parser.add_argument(
        "--media",
        metavar="FILE_OR_DIR",
        help="the media the subtitles are for (a file, or a folder mirroring --ref's tree): "
        "also check the shot-change rules against the cuts found in the picture",
    )
    add_layout_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    layout = layout_options_from_args(args, parser)
    if args.language is not None and args.language not in LANGUAGES:
        parser.error(f"--language: unknown language {args.language!r}")
    metrics = [key for key in (args.metrics or "").replace(",", " ").split()] or None
    try:
        report = score_paths(
            args.hyp, args.ref, metrics, layout=layout, language=args.language, media=args.media
        )
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"score.py: error: {error}", file=sys.stderr)
        return 2
    except (SubtitleError, CaptionSetError, MediaError) as error:
        print(f"score.py: error: {error}", file=sys.stderr)
        return 1
    if not report["settings"]["java"] and needs_java(report):
        print(java_missing_note(), file=sys.stderr)
    print(markdown_table(report, report["settings"]["metrics"]))
    if args.json:
        write_json(report, args.json)
    if args.csv:
        write_csv(report, report["settings"]["metrics"], args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
