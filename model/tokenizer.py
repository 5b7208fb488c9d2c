"""Whisper's byte-level BPE tokenizer (a `tokenizer.json` read with the `tokenizers` library).

Special token ids are looked up by name, so English-only (51864), multilingual (51865) and
large-v3 (51866) vocabularies all work. Timestamp tokens follow <|notimestamps|>:
timestamp_begin + k means k * 0.02 s.
"""

from __future__ import annotations

import shutil
from functools import cached_property
from pathlib import Path

from tokenizers import Tokenizer

# Whisper's language codes in vocabulary order (the first 99, then "yue" for large-v3).
LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no "
    "th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw "
    "gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl "
    "mg as tt haw ln ha ba jw su yue"
).split()


class WhisperTokenizer:
    kind = "whisper"
    file_name = "tokenizer.json"
    timestamps = True  # has timestamp tokens (the pipeline splits windows into segments)

    def __init__(self, path: str | Path, multilingual: bool):
        self.path = Path(path)
        self.multilingual = multilingual
        self.tokenizer = Tokenizer.from_file(str(self.path))

    def save(self, folder: str | Path) -> None:
        shutil.copyfile(self.path, Path(folder) / self.file_name)

    def special(self, text: str) -> int:
        token_id = self.tokenizer.token_to_id(text)
        if token_id is None:
            raise ValueError(f"{self.path}: tokenizer has no special token {text}")
        return token_id

    @cached_property
    def eot(self) -> int:
        return self.special("<|endoftext|>")

    @cached_property
    def sot(self) -> int:
        return self.special("<|startoftranscript|>")

    @cached_property
    def sot_prev(self) -> int:
        return self.special("<|startofprev|>")

    @cached_property
    def no_speech(self) -> int:
        for name in ("<|nospeech|>", "<|nocaptions|>"):
            if self.tokenizer.token_to_id(name) is not None:
                return self.tokenizer.token_to_id(name)
        raise ValueError(f"{self.path}: tokenizer has no <|nospeech|> token")

    @cached_property
    def no_timestamps(self) -> int:
        return self.special("<|notimestamps|>")

    @cached_property
    def timestamp_begin(self) -> int:
        return self.no_timestamps + 1

    @cached_property
    def transcribe(self) -> int:
        return self.special("<|transcribe|>")

    @cached_property
    def translate(self) -> int:
        return self.special("<|translate|>")

    @cached_property
    def language_tokens(self) -> dict[str, int]:
        """Language code -> token id, for the languages this vocabulary has."""
        found = {}
        for code in LANGUAGES:
            token_id = self.tokenizer.token_to_id(f"<|{code}|>")
            if token_id is not None:
                found[code] = token_id
        return found

    def sot_sequence(self, language: str | None, task: str, timestamps: bool) -> list[int]:
        """The tokens a transcript starts with, e.g. [sot, <|fr|>, <|transcribe|>]."""
        sequence = [self.sot]
        if self.multilingual:
            if language not in self.language_tokens:
                raise ValueError(f"unknown language {language!r}")
            sequence += [
                self.language_tokens[language],
                self.translate if task == "translate" else self.transcribe,
            ]
        if not timestamps:
            sequence.append(self.no_timestamps)
        return sequence

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        """Text of the ids below <|endoftext|> (timestamps and specials are dropped)."""
        return self.tokenizer.decode([i for i in ids if i < self.eot], skip_special_tokens=False)

    def non_speech_tokens(self) -> list[int]:
        """Tokens for symbols that are not speech (Whisper's default suppression list)."""
        symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
        symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
        miscellaneous = set("♩♪♫♬♭♮♯")
        result = {self.encode(" -")[0], self.encode(" '")[0]}
        for symbol in symbols + sorted(miscellaneous):
            for tokens in (self.encode(symbol), self.encode(" " + symbol)):
                if len(tokens) == 1 or symbol in miscellaneous:
                    result.add(tokens[0])
        return sorted(result)
