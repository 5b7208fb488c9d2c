"""AVCaptioner: AudioEncoder + FrameEncoder + TextDecoder, rebuilt from a ModelConfig."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.audio import AudioEncoder
from model.config import ModelConfig
from model.decoder import CrossCache, TextDecoder
from model.frames import FrameEncoder
from model.lstm_decoder import LSTMDecoder


class AVCaptioner(nn.Module):
    def __init__(self, config: ModelConfig, with_frame_trunk: bool = True):
        """with_frame_trunk=False: no ResNet (for captioning with every visual gate at 0,
        where it never runs; building a random ResNet and importing torchvision would slow
        caption.py's start-up)."""
        super().__init__()
        if config.decoder not in ("transformer", "lstm"):
            raise ValueError(f"unknown decoder {config.decoder!r} (transformer or lstm)")
        if config.n_audio_state != config.n_text_state:
            raise ValueError("audio and text widths must match (cross-attention has no projection)")
        self.config = config
        self.encoder = AudioEncoder(
            config.n_mels,
            config.n_audio_ctx,
            config.n_audio_state,
            config.n_audio_head,
            config.n_audio_layer,
            config.audio_summary,
        )
        self.frame_encoder = FrameEncoder(
            config.frame_backbone,
            config.n_text_state,
            config.frame_grid,
            config.n_frame_layer,
            config.n_text_head,
            config.frame_summary,
            with_trunk=with_frame_trunk,
        )
        if config.decoder == "lstm":
            self.decoder = LSTMDecoder(
                config.n_vocab, config.n_text_state, config.dropout, config.n_text_head
            )
        else:
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
        """mel: (B, n_mels, >= 2 * n_audio_ctx) (a 30 s window is cut to the model's audio
        span); frames: (B, F, H, W, 3) uint8; frame_times: (B, F) seconds from the window
        start; frame_mask: (B, F) bool. With every gate at 0 the frames are ignored and the
        ResNet never runs (in training they are used: the gates learn)."""
        audio = self.encoder(mel[..., : 2 * self.config.n_audio_ctx])  # (B, n_audio_ctx (+ 1), D)
        visual = None
        if frames is not None and frames.shape[1] > 0 and (self.training or self.uses_vision()):
            visual = self.frame_encoder(frames, frame_times, frame_mask)  # (B, F (+ 1), D)
        mask = self.frame_encoder.token_mask(frame_mask) if visual is not None else None
        return self.decoder.cross_cache(audio, visual, mask)

    def encode_features(
        self,
        mel: Tensor,
        feats: Tensor | None,
        frame_times: Tensor | None,
        frame_mask: Tensor | None,
    ) -> CrossCache:
        """As `encode`, from cached trunk features feats (B, F, C) (a frozen ResNet)."""
        audio = self.encoder(mel[..., : 2 * self.config.n_audio_ctx])  # (B, n_audio_ctx (+ 1), D)
        visual = None
        if feats is not None and feats.shape[1] > 0:
            visual = self.frame_encoder.tokens_from_features(feats, frame_times, frame_mask)
        mask = self.frame_encoder.token_mask(frame_mask) if visual is not None else None
        return self.decoder.cross_cache(audio, visual, mask)

    def forward(
        self,
        mel: Tensor,
        tokens: Tensor,
        frames: Tensor | None = None,
        frame_times: Tensor | None = None,
        frame_mask: Tensor | None = None,
        frame_features: Tensor | None = None,
    ) -> Tensor:
        """Teacher-forced logits: mel (B, n_mels, 2 * n_audio_ctx), tokens (B, T) -> (B, T, V).
        frame_features (B, F, C): cached trunk features, used instead of frames."""
        if frame_features is not None:
            cross = self.encode_features(mel, frame_features, frame_times, frame_mask)
        else:
            cross = self.encode(mel, frames, frame_times, frame_mask)
        logits, _ = self.decoder(tokens, cross)
        return logits
