"""Cues by the rules of the subtitle's language (data/language_rules.py): the layout
options a language changes, Chinese text made Chinese (app/chinese_text.py), and the
marks its subtitlers leave off the end of a line."""

from __future__ import annotations

from dataclasses import replace

from app.chinese_text import chinese_words
from app.layout import LayoutOptions, layout_words
from data.language_rules import layout_options_for, rules_for
from data.subtitles import Cue, Word

CHINESE = frozenset({"zh", "yue"})


def drop_line_end_marks(text: str, marks: str) -> str:
    """Each line of `text` without the trailing `marks` (a line of marks alone is kept)."""
    if not marks:
        return text
    return "\n".join(line.rstrip(marks) or line for line in text.split("\n"))


def layout_language_words(
    words: list[Word],
    language: str | None,
    options: LayoutOptions,
    chinese_script: str = "simplified",
    media_end: float | None = None,
) -> list[Cue]:
    """`layout_words` by the rules of `language` (None: the default rules)."""
    if language in CHINESE:
        words = chinese_words(words, chinese_script)
    rules = rules_for(language)
    cues = layout_words(words, layout_options_for(options, language), media_end)
    if rules.line_end_drop:
        cues = [replace(c, text=drop_line_end_marks(c.text, rules.line_end_drop)) for c in cues]
    return cues
