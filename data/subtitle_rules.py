"""The subtitle layout rules, their limits and the check of one cue against them.

One definition for everything that reads them: app/layout.py lays cues out by these rules,
evaluation/subtitle_layout.py reports how many cues keep them, and caption.py, score.py and
the web page take their settings from `LayoutOptions` and refuse values `layout_problems`
names. The defaults follow common broadcast and streaming practice (Netflix and BBC
guidelines): 42 characters x 2 lines, 5/6 s to 7 s, 20 characters per second, a 2-frame gap.
"""

from __future__ import annotations

from dataclasses import dataclass

from data.language_rules import marks_kept
from data.subtitles import Cue


@dataclass(frozen=True)
class LayoutOptions:
    max_line_width: int = 42
    max_lines: int = 2
    max_cps: float = 20.0
    min_duration: float = 5 / 6
    max_duration: float = 7.0
    min_gap: float = 0.08  # 2 frames at 25 fps
    lead_in: float = 0.2  # a cue may start this long before its first word
    lead_out: float = 0.5  # and end this long after its last
    max_pause: float = 1.0  # a pause between words at least this long always ends a cue
    word_separator: str = " "  # "" for languages written without spaces (Chinese)
    # Cue edges this close to a shot change go onto it (12 frames at 24 fps; in whole
    # frames of the video, app/cut_timing.py).
    shot_change_window: float = 0.5


# Narrower lines cannot hold ordinary words with room to break between them.
MIN_LINE_WIDTH = 10
# Subtitle files keep milliseconds, so every time rule is checked with 1 ms to spare: 5/6 s
# written as 0.833 still passes.
TIME_SLACK = 0.001
RULES = ("line_width", "line_count", "min_duration", "max_duration", "cps", "gap", "marks")
# The LayoutOptions fields those rules check cues against.
RULE_LIMITS = ("max_line_width", "max_lines", "max_cps", "min_duration", "max_duration", "min_gap")


def cue_characters(text: str) -> int:
    """Characters a viewer reads: spaces and punctuation count, line breaks do not."""
    return len(text.replace("\n", ""))


def rules_kept(
    cue: Cue, next_cue: Cue | None, options: LayoutOptions, language: str | None = None
) -> dict[str, bool]:
    """Whether `cue` keeps each rule of RULES; "gap" is to `next_cue` (None: the last cue);
    "marks" by the rules of `language` (data/language_rules.py)."""
    lines = cue.text.split("\n")
    duration = cue.end - cue.start
    return {
        "line_width": all(len(line) <= options.max_line_width for line in lines),
        "line_count": len(lines) <= options.max_lines,
        "min_duration": duration >= options.min_duration - TIME_SLACK,
        "max_duration": duration <= options.max_duration + TIME_SLACK,
        # A cue of no time shows its text infinitely fast.
        "cps": duration > 0
        and cue_characters(cue.text) <= options.max_cps * (duration + TIME_SLACK),
        # An overlap is a negative gap.
        "gap": next_cue is None or next_cue.start - cue.end >= options.min_gap - TIME_SLACK,
        # The language's marks and spaces (Chinese: full-width, none ending a line).
        "marks": marks_kept(cue.text, language),
    }


def layout_problems(options: LayoutOptions) -> list[tuple[str, str]]:
    """(field, what it must be) for each setting no subtitle could keep; empty when all
    can be kept. The command lines and the web page word their errors from these."""
    kept = (  # each comparison is False for nan too
        ("max_line_width", options.max_line_width >= MIN_LINE_WIDTH,
         f"must be at least {MIN_LINE_WIDTH} characters per line"),
        ("max_lines", options.max_lines >= 1, "must be at least 1 line"),
        ("max_cps", options.max_cps > 0, "must be above 0 characters per second"),
        ("max_duration", options.max_duration >= options.min_duration,
         f"must be at least the minimum duration {options.min_duration:.3f} s"),
        ("min_gap", 0 <= options.min_gap < options.max_duration,
         "must be at least 0 s and below the maximum duration"),
        ("shot_change_window", options.shot_change_window >= 0, "must be at least 0 s"),
    )  # fmt: skip
    return [(field, problem) for field, ok, problem in kept if not ok]
