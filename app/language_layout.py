"""Cues by the rules of the subtitle's language (data/language_rules.py): the layout
options a language changes, Chinese text made Chinese (app/chinese_text.py), and the
marks its subtitlers leave off the end of a line."""

from __future__ import annotations

from dataclasses import replace

from app.chinese_text import chinese_segment_words, chinese_words
from app.cut_timing import layout_with_cuts
from app.layout import LayoutOptions
from data.language_rules import language_of_text, layout_options_for, rules_for
from data.shot_changes import ShotChanges
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
    shots: ShotChanges | None = None,
) -> list[Cue]:
    """`layout_words` by the rules of `language` (None: the default rules), cue times
    following the video's cuts when `shots` are given (app/cut_timing.py)."""
    if language in CHINESE:
        words = chinese_words(words, chinese_script)
    rules = layout_options_for(options, language)
    return finish_cues(layout_with_cuts(words, shots, rules, media_end), language)


def written_language(text: str, language: str | None, task: str) -> str | None:
    """The language subtitles are written in: English when translated, else `language`,
    else what the text's script shows (None: a language written with spaces)."""
    if task == "translate":
        return "en"
    return language or language_of_text(text)


def segment_layout(
    texts: list[str], language: str | None, options: LayoutOptions, chinese_script: str
) -> tuple[list[str], LayoutOptions]:
    """Segment texts (--no-vad) made ready for `layout_segment` in `language`: Chinese text
    as its words separated by spaces (the layout joins them without), and the options."""
    if language in CHINESE:
        texts = [" ".join(chinese_segment_words(t, chinese_script)) for t in texts]
    return texts, layout_options_for(options, language)


def finish_cues(cues: list[Cue], language: str | None) -> list[Cue]:
    """Cues without the marks their language leaves off the end of a line."""
    marks = rules_for(language).line_end_drop
    if not marks:
        return cues
    return [replace(c, text=drop_line_end_marks(c.text, marks)) for c in cues]
