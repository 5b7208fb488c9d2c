"""Text normalisation for WER and CER: one rule set, stated in every report.

Word error rates are only comparable when both sides are normalised the same way, and
"12" against "twelve" must not count as an error. The English normaliser of the Whisper
paper (Appendix C, packaged as `whisper-normalizer`) is what speech papers use: it
lowercases, drops punctuation, writes spelled-out numbers as digits, and more (below).
"""

from __future__ import annotations

import functools

from whisper_normalizer.english import EnglishTextNormalizer

NORMALISATION = (
    "whisper-normalizer EnglishTextNormalizer: lowercase; punctuation, symbols and diacritics "
    "removed; [bracketed] and (parenthesised) text removed; fillers (uh, um, hmm) removed; "
    "contractions expanded; numbers written as digits (twenty-five -> 25); British spellings "
    "made American"
)


@functools.cache
def _normaliser() -> EnglishTextNormalizer:
    # Building it loads a spelling table from disk; do that once per process.
    return EnglishTextNormalizer()


def normalise(text: str) -> str:
    """`text` as compared for WER/CER: see NORMALISATION. Line breaks count as spaces."""
    return " ".join(_normaliser()(text.replace("\n", " ")).split())
