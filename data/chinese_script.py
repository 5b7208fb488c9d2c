"""Chinese in one script (OpenCC) and with full-width marks: what subtitles are written in
and what CER compares (Whisper writes a mix of simplified and traditional characters)."""

from __future__ import annotations

import functools
import re

CHINESE_SCRIPTS = ("simplified", "traditional", "as-is")
_OPENCC_CONFIG = {"simplified": "t2s", "traditional": "s2t"}

HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
FULL_WIDTH = {",": "，", ".": "。", "?": "？", "!": "！", ":": "：", ";": "；"}
# A half-width mark right after a Chinese character (not a decimal point: no digit after).
HALF_WIDTH_AFTER_HAN = re.compile(rf"(?<=[{HAN}])([,?!:;]|\.(?!\d))")


@functools.cache
def _converter(script: str):
    import opencc

    return opencc.OpenCC(_OPENCC_CONFIG[script])


def convert_script(text: str, script: str) -> str:
    """`text` in simplified or traditional characters; "as-is" leaves it alone."""
    if script not in CHINESE_SCRIPTS:
        raise ValueError(
            f"unknown Chinese script {script!r} (choose from {', '.join(CHINESE_SCRIPTS)})"
        )
    if script == "as-is" or not text:
        return text
    return _converter(script).convert(text)


def full_width_punctuation(text: str) -> str:
    """Half-width , . ? ! : ; after a Chinese character written full-width."""
    return HALF_WIDTH_AFTER_HAN.sub(lambda m: FULL_WIDTH[m.group(1)], text)
