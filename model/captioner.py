"""AVCaptioner: AudioEncoder + FrameEncoder + TextDecoder, rebuilt from a ModelConfig."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.audio import AudioEncoder
from model.config import ModelConfig
from model.decoder import CrossCache, TextDecoder
from model.frames import FrameEncoder


class AVCaptioner(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.decoder != "transformer":
            raise ValueError(
                f"unsupported decoder {config.decoder!r} (this build has 'transformer')"
            )
        if config.n_audio_state != config.n_text_state:
            raise ValueError("audio and text widths must match (cross-attention has no projection)")
        self.config = config
        self.encoder = AudioEncoder(
            config.n_mels,
            config.n_audio_ctx,
            config.n_audio_state,
            config.n_audio_head,
            config.n_audio_layer,
        )
        self.frame_encoder = FrameEncoder(config.frame_backbone, config.n_text_state)
        self.decoder = TextDecoder(
            config.n_vocab,
            config.n_text_ctx,
            config.n_text_state,
            config.n_text_head,
            config.n_text_layer,
            config.dropout,
        )

    @property
    def device(self) -> torch.device:
        return self.decoder.token_embedding.weight.device

    def uses_vision(self) -> bool:
        return self.decoder.uses_vision()

    def encode(
        self,
        mel: Tensor,
        frames: Tensor | None = None,
        frame_times: Tensor | None = None,
        frame_mask: Tensor | None = None,
    ) -> CrossCache:
        """mel: (B, n_mels, 3000); frames: (B, F, H, W, 3) uint8; frame_times: (B, F) seconds
        from the window start; frame_mask: (B, F) bool. With every gate at 0 the frames are
        ignored and the ResNet never runs (in training they are used: the gates learn)."""
        audio = self.encoder(mel)  # (B, 1500, D)
        visual = None
        if frames is not None and frames.shape[1] > 0 and (self.training or self.uses_vision()):
            visual = self.frame_encoder(frames, frame_times)  # (B, F, D)
        return self.decoder.cross_cache(audio, visual, frame_mask if visual is not None else None)

    def forward(
        self,
        mel: Tensor,
        tokens: Tensor,
        frames: Tensor | None = None,
        frame_times: Tensor | None = None,
        frame_mask: Tensor | None = None,
    ) -> Tensor:
        """Teacher-forced logits: mel (B, n_mels, 3000), tokens (B, T) -> (B, T, V)."""
        cross = self.encode(mel, frames, frame_times, frame_mask)
        logits, _ = self.decoder(tokens, cross)
        return logits
