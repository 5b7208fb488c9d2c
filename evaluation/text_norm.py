"""Text normalisation for WER and CER: one rule set per kind of language, stated in every
report.

Error rates are only comparable when both sides are normalised the same way, and "12"
against "twelve" must not count as an error. English uses the normaliser of the Whisper
paper (Appendix C, packaged as `whisper-normalizer`); other languages written with spaces
its basic normaliser; Chinese, Japanese and Korean are compared character by character
(CER) with punctuation, symbols and spaces removed, full-width forms folded (NFKC) and,
for Chinese, both sides in simplified characters (OpenCC t2s), since Whisper and
references mix the two scripts.
"""

from __future__ import annotations

import functools
import unicodedata

from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

from data.chinese_script import convert_script
from data.language_rules import CHARACTER_ERROR_LANGUAGES

ENGLISH_NORMALISATION = (
    "whisper-normalizer EnglishTextNormalizer: lowercase; punctuation, symbols and diacritics "
    "removed; [bracketed] and (parenthesised) text removed; fillers (uh, um, hmm) removed; "
    "contractions expanded; numbers written as digits (twenty-five -> 25); British spellings "
    "made American"
)
NORMALISATION = ENGLISH_NORMALISATION  # the rule for English and unknown languages
BASIC_NORMALISATION = (
    "whisper-normalizer BasicTextNormalizer: lowercase; punctuation and symbols removed; "
    "[bracketed] and (parenthesised) text removed"
)
CHARACTER_NORMALISATION = (
    "characters: NFKC (full-width forms folded), lowercase, Unicode punctuation, symbols "
    "and whitespace removed; Chinese: both sides converted to simplified (OpenCC t2s)"
)


@functools.cache
def _english() -> EnglishTextNormalizer:
    # Building it loads a spelling table from disk; do that once per process.
    return EnglishTextNormalizer()


@functools.cache
def _basic() -> BasicTextNormalizer:
    return BasicTextNormalizer()


def normalisation_of(language: str | None) -> str:
    """The rule `normalise` applies to `language`, as the report states it."""
    if language in CHARACTER_ERROR_LANGUAGES:
        return CHARACTER_NORMALISATION
    if language in (None, "en"):
        return ENGLISH_NORMALISATION
    return BASIC_NORMALISATION


def _characters(text: str, language: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    if language in ("zh", "yue"):
        text = convert_script(text, "simplified")
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c)[0] not in "PSZ")


def normalise(text: str, language: str | None = None) -> str:
    """`text` as compared for WER/CER in `language` (None: English rules): see
    `normalisation_of`. Line breaks count as spaces; character languages keep no spaces."""
    if language in CHARACTER_ERROR_LANGUAGES:
        return _characters(text, language)
    normaliser = _english() if language in (None, "en") else _basic()
    return " ".join(normaliser(text.replace("\n", " ")).split())
