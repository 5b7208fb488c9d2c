"""Chinese as Chinese subtitlers write it: one script, full-width punctuation, and the
timed words regrouped into dictionary words so that no line breaks inside one.

Whisper writes Chinese in a mix of simplified and traditional characters (its training
text was both) and times it per token, which can be part of a word; OpenCC converts the
script (`t2s`, or `s2t` for traditional) and jieba finds the words.
"""

from __future__ import annotations

import functools
import logging

from data.chinese_script import CHINESE_SCRIPTS, convert_script, full_width_punctuation
from data.subtitles import Word

__all__ = ["CHINESE_SCRIPTS", "chinese_segment_words", "chinese_words"]


@functools.cache
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it logs its dictionary loading at INFO
    jieba.initialize()
    return jieba


def _converted_words(words: list[Word], script: str) -> list[str]:
    """Each word's text in `script`; the whole text is converted at once where that keeps
    every character in place (OpenCC's phrase tables then see the context)."""
    texts = [w.text for w in words]
    # Marks are made full-width on the whole text: a mark may be a word of its own.
    joined = full_width_punctuation("".join(texts))
    converted = convert_script(joined, script)
    if len(converted) != len(joined):
        return [convert_script(full_width_punctuation(t), script) for t in texts]
    out, at = [], 0
    for text in texts:
        out.append(converted[at : at + len(text)])
        at += len(text)
    return out


def _boundaries(pieces: list[str]) -> set[int]:
    ends, at = set(), 0
    for piece in pieces:
        at += len(piece)
        ends.add(at)
    return ends


def chinese_words(words: list[Word], script: str = "simplified") -> list[Word]:
    """Timed words of Chinese speech -> the same speech as timed dictionary words in
    `script`: a new word starts only where both Whisper's words and jieba's do, so no word
    is split and every timing stays that of whole tokens."""
    texts = [t.replace(" ", "") for t in _converted_words(words, script)]
    kept = [(w, t) for w, t in zip(words, texts, strict=True) if t]
    if not kept:
        return []
    joined = "".join(t for _, t in kept)
    allowed = _boundaries([t for _, t in kept]) & _boundaries(list(_jieba().cut(joined)))
    merged: list[Word] = []
    group: list[tuple[Word, str]] = []
    at = 0
    for word, text in kept:
        group.append((word, text))
        at += len(text)
        if at in allowed:
            probabilities = [w.probability for w, _ in group if w.probability is not None]
            merged.append(Word(
                group[0][0].start, max(w.end for w, _ in group), "".join(t for _, t in group),
                sum(probabilities) / len(probabilities) if probabilities else None,
            ))  # fmt: skip
            group = []
    return merged


def chinese_segment_words(text: str, script: str = "simplified") -> list[str]:
    """Untimed Chinese text (Whisper's segments, --no-vad) -> its jieba words in `script`
    with full-width marks, each mark joined to the word before it (no line starts with one)."""
    text = convert_script(full_width_punctuation("".join(text.split())), script)
    words: list[str] = []
    for piece in _jieba().cut(text):
        if words and all(not c.isalnum() for c in piece):
            words[-1] += piece
        else:
            words.append(piece)
    return words
