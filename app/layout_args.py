"""The layout rules as command-line options, shared by caption.py and score.py."""

from __future__ import annotations

import argparse

from data.subtitle_rules import LayoutOptions, layout_problems

_DEFAULTS = LayoutOptions()
# (LayoutOptions field, type, metavar, help); each is the flag --field-name.
_FLAGS = (
    ("max_line_width", int, "N", "characters per line at most"),
    ("max_lines", int, "N", "lines per cue at most"),
    ("max_cps", float, "CPS", "characters per second at most, where the speech allows"),
    (
        "max_duration",
        float,
        "SECONDS",
        f"seconds a cue lasts at most (cues last at least {_DEFAULTS.min_duration:.3f})",
    ),
    ("min_gap", float, "SECONDS", "seconds between consecutive cues at least (2 frames at 25 fps)"),
    (
        "shot_change_window",
        float,
        "SECONDS",
        "cue edges this close to a shot change go onto it, in whole frames of the video "
        "(12 frames at 24 fps)",
    ),
)


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def add_layout_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("subtitle layout")
    for field, kind, metavar, text in _FLAGS:
        default = getattr(_DEFAULTS, field)
        group.add_argument(
            _flag(field), type=kind, default=default, metavar=metavar,
            help=f"{text}; default {default:g}",
        )  # fmt: skip


def layout_options_from_args(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> LayoutOptions:
    """The LayoutOptions the flags ask for; parser.error (exit status 2) for values no
    subtitle could keep."""
    options = LayoutOptions(**{field: getattr(args, field) for field, *_ in _FLAGS})
    for field, problem in layout_problems(options):
        parser.error(f"{_flag(field)} {getattr(args, field):g}: {problem}")
    return options
