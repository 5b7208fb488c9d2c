"""ModelConfig: every hyper-parameter needed to rebuild an AVCaptioner, saved in each checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class ModelConfig:
    # Audio encoder (Whisper-compatible).
    n_mels: int = 80
    n_audio_ctx: int = 1500  # encoder positions per 30 s window (20 ms each)
    n_audio_state: int = 384
    n_audio_head: int = 6
    n_audio_layer: int = 4
    audio_summary: bool = False  # one more audio token: the encoder's output averaged over time
    # Text decoder.
    n_vocab: int = 51864
    n_text_ctx: int = 448
    n_text_state: int = 384
    n_text_head: int = 6
    n_text_layer: int = 4
    decoder: str = "transformer"  # "transformer" (Whisper + gated visual attention) | "lstm"
    # Frame encoder.
    frame_backbone: str = "resnet18"  # resnet18 | resnet34 | resnet50
    frames_per_second: float = 1.0  # rate frames are sampled at for the visual tokens
    frame_size: int = 224
    frame_grid: int = 1  # trunk features pooled to grid x grid cells (1: global pooling)
    n_frame_layer: int = 0  # temporal conv + self-attention blocks across frames (0: none)
    frame_summary: bool = False  # one more visual token: trunk features max-pooled over frames
    # Vocabulary facts the search needs (taken from the tokenizer/checkpoint they came with).
    suppress_ids: list[int] = field(default_factory=list)
    suppress_ids_begin: list[int] = field(default_factory=list)
    alignment_heads: list[list[int]] = field(default_factory=list)
    dropout: float = 0.0

    @property
    def is_multilingual(self) -> bool:
        # Whisper's multilingual vocabularies have 51865 (or, for large-v3, 51866) entries.
        return self.n_vocab >= 51865

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {', '.join(unknown)}")
        return cls(**values)
