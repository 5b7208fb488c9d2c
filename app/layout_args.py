"""The layout rules as command-line options, shared by caption.py and score.py."""

from __future__ import annotations

import argparse

from app.layout import LayoutOptions

_DEFAULTS = LayoutOptions()


def add_layout_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("subtitle layout")
    group.add_argument(
        "--max-line-width",
        type=int,
        default=_DEFAULTS.max_line_width,
        metavar="N",
        help=f"characters per line at most (default {_DEFAULTS.max_line_width})",
    )
    group.add_argument(
        "--max-lines",
        type=int,
        default=_DEFAULTS.max_lines,
        metavar="N",
        help=f"lines per cue at most (default {_DEFAULTS.max_lines})",
    )
    group.add_argument(
        "--max-cps",
        type=float,
        default=_DEFAULTS.max_cps,
        metavar="CPS",
        help=f"characters per second at most, where the speech allows (default {_DEFAULTS.max_cps:g})",
    )
    group.add_argument(
        "--max-duration",
        type=float,
        default=_DEFAULTS.max_duration,
        metavar="SECONDS",
        help=f"seconds a cue lasts at most (default {_DEFAULTS.max_duration:g}; "
        f"at least {_DEFAULTS.min_duration:.3f})",
    )
    group.add_argument(
        "--min-gap",
        type=float,
        default=_DEFAULTS.min_gap,
        metavar="SECONDS",
        help=f"seconds between consecutive cues at least (default {_DEFAULTS.min_gap:g}, "
        "2 frames at 25 fps)",
    )
    group.add_argument(
        "--shot-change-window",
        type=float,
        default=_DEFAULTS.shot_change_window,
        metavar="SECONDS",
        help="cue edges this close to a shot change go onto it, in whole frames of the video "
        f"(default {_DEFAULTS.shot_change_window:g}: 12 frames at 24 fps)",
    )


def layout_options_from_args(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> LayoutOptions:
    """The LayoutOptions the flags ask for; parser.error (exit status 2) for values no
    subtitle could keep."""
    if args.max_line_width < 10:
        parser.error(f"--max-line-width {args.max_line_width}: must be at least 10")
    if args.max_lines < 1:
        parser.error(f"--max-lines {args.max_lines}: must be at least 1")
    if not args.max_cps > 0:  # also catches nan
        parser.error(f"--max-cps {args.max_cps:g}: must be above 0")
    if not args.max_duration >= _DEFAULTS.min_duration:
        parser.error(
            f"--max-duration {args.max_duration:g}: must be at least the minimum duration "
            f"{_DEFAULTS.min_duration:.3f} s"
        )
    if not 0 <= args.min_gap < args.max_duration:
        parser.error(f"--min-gap {args.min_gap:g}: must be at least 0 and below --max-duration")
    if not 0 <= args.shot_change_window < args.max_duration:
        parser.error(
            f"--shot-change-window {args.shot_change_window:g}: must be at least 0 and below "
            "--max-duration"
        )
    return LayoutOptions(
        max_line_width=args.max_line_width,
        max_lines=args.max_lines,
        max_cps=args.max_cps,
        max_duration=args.max_duration,
        min_gap=args.min_gap,
        shot_change_window=args.shot_change_window,
    )
