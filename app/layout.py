"""Segments -> readable cues: lines of at most `max_line_width` characters, at most
`max_lines` lines per cue, broken between words (never inside one). A segment too long
for one cue becomes several, its time shared in proportion to their characters."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from data.subtitles import Cue


@dataclass(frozen=True)
class LayoutOptions:
    max_line_width: int = 42
    max_lines: int = 2


def wrap_lines(text: str, width: int) -> list[str]:
    # A word longer than the line stays whole on its own line rather than being cut.
    return textwrap.wrap(
        " ".join(text.split()), width=width, break_long_words=False, break_on_hyphens=False
    )


def layout_segment(start: float, end: float, text: str, options: LayoutOptions) -> list[Cue]:
    """One timed segment of text -> one or more cues within [start, end]."""
    lines = wrap_lines(text, options.max_line_width)
    if not lines:
        return []
    groups = [lines[i : i + options.max_lines] for i in range(0, len(lines), options.max_lines)]
    weights = [sum(len(line) for line in group) for group in groups]
    total = sum(weights)
    cues, t = [], start
    for group, weight in zip(groups, weights, strict=True):
        cue_end = end if group is groups[-1] else t + (end - start) * weight / total
        cues.append(Cue(round(t, 3), round(cue_end, 3), "\n".join(group)))
        t = cue_end
    return cues
