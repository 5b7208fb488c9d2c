"""On-screen text -> the terms a speech chunk is decoded with, as Whisper's previous-text
prompt (the zero-shot visual path; the learned one is the gated cross-attention over
ResNet features, for trained checkpoints).

A term is a word on screen that the model finds rare: one its tokenizer cannot write as a
single token (names, jargon, unusual spellings), or one holding a digit. Common words gain
nothing from a prompt, so a paragraph on screen gives only its few rare words. Lines that
are not about the content are left out: text that stays while the pictures around it change
(logos, watermarks, interface chrome) and burned-in subtitles (short-lived lines, centred at
the bottom). Terms are ranked by how rare they are and the prompt holds as many as fit in
PROMPT_TOKENS, most useful first.

Prompts can hurt: `context_helped` decides, after decoding, whether a chunk keeps its
prompted text; one that wrote none of the terms (the screen was about something else) or
that repeats itself or copies the prompt is decoded again without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from data.screen_text import ScreenLine, ScreenText

VISUAL_CONTEXT_MODES = ("auto", "off")
PROMPT_TOKENS = 64  # tokens of on-screen terms in a prompt (Whisper allows up to 223)
LEAD_SECONDS = 10.0  # text shown this long before a chunk still counts for it
TERMS_PER_LINE = 4  # the rarest words of a line at most (a paragraph is not a term list)
# A line visible this share of the video while at least STILL_PICTURES pictures changed
# around it is a logo, a watermark or interface chrome.
STILL_SHARE = 0.6
STILL_PICTURES = 3
# Burned-in subtitles: lines centred (within this share of the width) in the bottom part
# of the picture, each shown at most SUBTITLE_SECONDS, when there are at least
# SUBTITLE_LINES of them.
SUBTITLE_TOP = 0.75
SUBTITLE_CENTRE = 0.1
SUBTITLE_SECONDS = 8.0
SUBTITLE_LINES = 3
# A prompted text that writes a term this many times, or whose words are more than this
# share terms (of at least COPIED_WORDS), repeats or copies its prompt.
MAX_REPEATS = 3
COPIED_SHARE = 0.5
COPIED_WORDS = 3  # (a shorter text may be just a name)
# Whisper's languages written in CJK characters: the only ones given CJK terms.
CJK_LANGUAGES = frozenset({"zh", "yue", "ja", "ko"})

_LATIN_WORD = re.compile(r"[^\W_](?:[\w'’.+#-]*[\w+#])?")
_POSSESSIVE = re.compile(r"['’]s$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")


@dataclass(frozen=True)
class Prompt:
    tokens: list[int]  # previous-text tokens
    terms: tuple[str, ...]  # the terms they write, most useful first


def content_lines(screen: ScreenText) -> list[ScreenLine]:
    """The lines worth reading for context: chrome, watermarks and burned-in subtitles out."""
    shown: dict[str, float] = {}
    for line in screen.lines:
        shown[line.text] = shown.get(line.text, 0.0) + line.end - line.start
    still = {
        text
        for text, seconds in shown.items()
        if screen.pictures >= STILL_PICTURES and seconds >= STILL_SHARE * screen.duration
    }
    subtitles = [line for line in screen.lines if _subtitle_like(line)]
    if len(subtitles) < SUBTITLE_LINES:
        subtitles = []
    skipped = still | {line.text for line in subtitles}
    return [line for line in screen.lines if line.text not in skipped]


def _subtitle_like(line: ScreenLine) -> bool:
    left, top, right, _ = line.box
    centred = abs((left + right) / 2 - 0.5) <= SUBTITLE_CENTRE
    return top >= SUBTITLE_TOP and centred and line.end - line.start <= SUBTITLE_SECONDS


def lines_for(lines: list[ScreenLine], start: float, end: float) -> tuple[str, ...]:
    """The texts of the lines on screen during a chunk (media seconds) or shortly before."""
    texts = []
    for line in lines:
        if line.start < end and line.end > start - LEAD_SECONDS and line.text not in texts:
            texts.append(line.text)
    return tuple(texts)


def _words(text: str, language: str) -> list[str]:
    """The words of a line; a possessive's "'s" is not part of the term."""
    words = [_POSSESSIVE.sub("", w) for w in _LATIN_WORD.findall(_CJK.sub(" ", text))]
    if language in CJK_LANGUAGES:
        import jieba

        for run in _CJK.findall(text):
            words.extend(w for w in jieba.lcut(run) if len(w) >= 2)
    return words


def _rarity(word: str, tokenizer) -> int:
    """Tokens the model needs to write the word after a space (at its most common casing);
    1 for a word it knows well. A word holding a digit counts one more."""
    forms = {word, word.lower(), word.capitalize()}
    tokens = min(len(tokenizer.encode(" " + form)) for form in forms)
    return tokens + any(c.isdigit() for c in word)


def ranked_terms(texts: tuple[str, ...], tokenizer, language: str) -> list[str]:
    """The rare words of on-screen lines, rarest first (ties: in reading order), each once."""
    scored: dict[str, tuple[int, int, str]] = {}
    order = 0
    for text in texts:
        words = {}
        for word in _words(text, language):
            rarity = _rarity(word, tokenizer)
            if rarity >= 2 and (len(word) >= 3 or any(c.isdigit() for c in word)):
                words.setdefault(word.casefold(), (rarity, word))
        best = sorted(words.items(), key=lambda kv: -kv[1][0])[:TERMS_PER_LINE]
        for key, (rarity, word) in best:
            if key not in scored or scored[key][0] > -rarity:
                scored[key] = (-rarity, order, word)
            order += 1
    return [word for _, _, word in sorted(scored.values())]


def build_prompt(terms: list[str], tokenizer, budget: int = PROMPT_TOKENS) -> Prompt:
    """As many terms as fit in `budget` tokens, most useful first, written as a list."""
    kept: list[str] = []
    tokens: list[int] = []
    for term in terms:
        trial = tokenizer.encode(" " + ", ".join([*kept, term]) + ".")
        if len(trial) > budget:
            continue
        kept.append(term)
        tokens = trial
    return Prompt(tokens, tuple(kept))


def times_written(term: str, text: str) -> int:
    """How often `text` writes `term` (as a whole word, any case)."""
    if _CJK.search(term):
        return text.count(term)
    return len(re.findall(rf"(?<!\w){re.escape(term.casefold())}(?!\w)", text.casefold()))


def context_helped(
    text: str, prompt: Prompt, compression_ratio: float, limit: float | None
) -> bool:
    """Whether a chunk decoded with on-screen terms keeps that text: it writes at least one
    of them, and does not repeat itself (Whisper's compression-ratio limit, or a term
    written MAX_REPEATS times or more) or copy the prompt (terms are most of its words)."""
    if limit is not None and compression_ratio > limit:
        return False
    counts = [times_written(term, text) for term in prompt.terms]
    if not any(counts) or max(counts) >= MAX_REPEATS:
        return False
    words = len(text) if _CJK.search(text) else len(text.split())
    term_words = sum(n * len(term.split()) for n, term in zip(counts, prompt.terms, strict=True))
    return words < COPIED_WORDS or term_words <= COPIED_SHARE * words
