"""What differs between languages in subtitles and in scoring: one table, read by the
layout (app/), the layout report and the error rates (evaluation/), caption.py and the page.

Chinese follows Netflix's Simplified Chinese (PRC) Timed Text Style Guide: 16 characters
per line, 2 lines, no spaces between words, full-width punctuation, no comma or full stop
at the end of a line; reading speed at most 9 characters per second for adult programmes
(the figure subtitling vendors' PRC guides give). Netflix's general rules (5/6 s to 7 s,
2-frame gaps, breaks after punctuation and never inside a word) hold for every language.
Languages without rules of their own keep the broadcast defaults of LayoutOptions.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from data.chinese_script import HALF_WIDTH_AFTER_HAN, HAN


@dataclass(frozen=True)
class LanguageRules:
    max_line_width: int | None = None  # None: the LayoutOptions default (42)
    max_cps: float | None = None  # None: the LayoutOptions default (20)
    word_separator: str = " "  # what goes between two words on a line
    full_width_punctuation: bool = False  # ,.?!:; written as ，。？！：；
    # Marks removed where a line ends (the break itself shows the pause).
    line_end_drop: str = ""
    error_unit: str = "word"  # what error rates count: "word" (WER) or "character" (CER)
    # Decode a chunk with Whisper's timestamp tokens (the words are timed by the alignment
    # either way): without them, base skips sentences of dense Chinese speech in a packed
    # 25-s chunk (README, Languages).
    timestamped_decoding: bool = False


_SPACED = LanguageRules()
_CHINESE = LanguageRules(
    max_line_width=16,
    max_cps=9.0,
    word_separator="",
    full_width_punctuation=True,
    line_end_drop="，。、；：,.;:",
    error_unit="character",
    timestamped_decoding=True,
)
# Japanese and Korean: only the error unit is set (their layout rules are not done yet).
_CHARACTER_SCORED = LanguageRules(error_unit="character")

RULES: dict[str, LanguageRules] = {"zh": _CHINESE, "yue": _CHINESE, "ja": _CHARACTER_SCORED}
RULES["ko"] = _CHARACTER_SCORED  # Korean has spaces, but CER is what Korean ASR reports
# Whisper splits words on Unicode boundaries (not spaces) for these.
UNSPACED_LANGUAGES = frozenset({"zh", "yue", "ja", "th", "lo", "my"})
CHARACTER_ERROR_LANGUAGES = frozenset(k for k, r in RULES.items() if r.error_unit == "character")


def rules_for(language: str | None) -> LanguageRules:
    return RULES.get(language or "", _SPACED)


def layout_options_for(options, language: str | None):
    """`options` (a LayoutOptions) with the language's own limits where a limit was left at
    its default: a limit the user set is kept."""
    rules = rules_for(language)
    defaults = type(options)()
    changes = {"word_separator": rules.word_separator}
    for name in ("max_line_width", "max_cps"):
        value = getattr(rules, name)
        if value is not None and getattr(options, name) == getattr(defaults, name):
            changes[name] = value
    return replace(options, **changes)


_SPACE_BETWEEN_HAN = re.compile(rf"[{HAN}][^\S\n]+(?=[{HAN}])")  # spaces, not line breaks


def marks_kept(text: str, language: str | None) -> bool:
    """Whether a cue's text keeps its language's rules for marks and spaces (Chinese:
    full-width marks, no space between characters, no `line_end_drop` mark ending a line);
    always True for languages without such rules."""
    rules = rules_for(language)
    if rules.full_width_punctuation and HALF_WIDTH_AFTER_HAN.search(text):
        return False
    if rules.word_separator == "" and _SPACE_BETWEEN_HAN.search(text):
        return False
    if rules.line_end_drop:
        ends = [line.rstrip()[-1:] for line in text.split("\n") if line.strip()]
        if any(end in rules.line_end_drop for end in ends):
            return False
    return True


def _script(char: str) -> str | None:
    """'han', 'kana', 'hangul' or None for one character."""
    code = ord(char)
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF:
        return "kana"
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "hangul"
    if unicodedata.name(char, "").startswith("CJK UNIFIED IDEOGRAPH"):
        return "han"
    return None


def language_of_text(text: str) -> str | None:
    """'zh', 'ja' or 'ko' when most letters of `text` are written in that script, else None
    (a language with spaces: the default rules apply)."""
    counts = {"han": 0, "kana": 0, "hangul": 0}
    letters = 0
    for char in text:
        if char.isalpha():
            letters += 1
            script = _script(char)
            if script:
                counts[script] += 1
    cjk = sum(counts.values())
    if not letters or cjk < letters / 2:
        return None
    if counts["kana"]:
        return "ja"
    if counts["hangul"] > counts["han"]:
        return "ko"
    return "zh"
