"""A SentencePiece tokenizer for captioning models trained from scratch.

Trained by train.py on the training captions (BPE; the vocabulary size is an upper
bound, a small corpus gives fewer pieces) and saved with the checkpoint as
`tokenizer.model`. It has the interface the search and the pipeline use
(`eot`, `sot`, `encode`, `decode`, `sot_sequence`), and no timestamp or language
tokens: a captioning model emits one caption per clip or window.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

UNK, SOT, EOT = 0, 1, 2  # ids fixed at training: <unk>, <s> (start), </s> (end of text)


class SentencePieceTokenizer:
    kind = "sentencepiece"
    file_name = "tokenizer.model"
    timestamps = False  # no timestamp tokens: one caption per clip / window
    multilingual = False
    language_tokens: dict[str, int] = {}

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.processor = spm.SentencePieceProcessor(model_file=str(self.path))
        if self.processor.bos_id() != SOT or self.processor.eos_id() != EOT:
            raise ValueError(f"{self.path}: not an avsub SentencePiece model (<s>=1, </s>=2)")

    @classmethod
    def train(cls, texts: Iterable[str], path: str | Path, vocab_size: int = 1000):
        """Train BPE on `texts` and write the model to `path`."""
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(list(texts)),
            model_writer=proto,
            vocab_size=vocab_size,
            hard_vocab_limit=False,  # a small corpus gives a smaller vocabulary
            model_type="bpe",
            character_coverage=1.0,
            unk_id=UNK,
            bos_id=SOT,
            eos_id=EOT,
            pad_id=-1,
            minloglevel=2,
        )
        Path(path).write_bytes(proto.getvalue())
        return cls(path)

    @property
    def n_vocab(self) -> int:
        return self.processor.get_piece_size()

    @property
    def eot(self) -> int:
        return EOT

    @property
    def sot(self) -> int:
        return SOT

    def sot_sequence(self, language: str | None, task: str, timestamps: bool) -> list[int]:
        return [SOT]

    def encode(self, text: str) -> list[int]:
        return self.processor.encode(text)

    def decode(self, ids: list[int]) -> str:
        """Text of the ids, control tokens (<unk>, <s>, </s>) dropped."""
        return self.processor.decode([i for i in ids if i > EOT])

    def suppress_ids(self) -> list[int]:
        """Never generated: <unk> and <s>."""
        return [UNK, SOT]

    def save(self, folder: str | Path) -> None:
        shutil.copyfile(self.path, Path(folder) / self.file_name)
