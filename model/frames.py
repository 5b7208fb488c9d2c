"""FrameEncoder: a torchvision ResNet trunk turns sampled video frames into visual tokens.

Each frame's token carries a sinusoidal encoding of its time inside the window, on the
same 20 ms clock as the audio encoder's positions, so audio and video share one clock.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from safetensors.torch import load_file
from torch import Tensor, nn

from model.attention import sinusoids
from model.audio import TIME_PRECISION

BACKBONES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_resnet_trunk(backbone: str) -> nn.Module:
    """A randomly initialised ResNet up to global pooling: (B, 3, H, W) -> (B, C)."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown frame backbone {backbone!r}; choose from {sorted(BACKBONES)}")
    trunk = getattr(torchvision.models, backbone)(weights=None)
    trunk.fc = nn.Identity()
    return trunk


class FrameEncoder(nn.Module):
    def __init__(self, backbone: str, n_state: int):
        super().__init__()
        self.backbone = backbone
        self.trunk = build_resnet_trunk(backbone)
        self.proj = nn.Linear(BACKBONES[backbone], n_state)
        self.ln = nn.LayerNorm(n_state)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, frames: Tensor) -> Tensor:
        """frames: (N, H, W, 3) uint8 RGB -> (N, C) pooled trunk features."""
        x = frames.permute(0, 3, 1, 2).float().div(255.0)  # (N, 3, H, W)
        x = (x - self.mean) / self.std
        return self.trunk(x)

    def forward(self, frames: Tensor, times: Tensor) -> Tensor:
        """frames: (B, F, H, W, 3) uint8; times: (B, F) seconds from the window start.
        Returns visual tokens (B, F, D)."""
        b, f = frames.shape[:2]
        feats = self.features(frames.flatten(0, 1)).view(b, f, -1)  # (B, F, C)
        return self.tokens_from_features(feats, times)

    def tokens_from_features(self, feats: Tensor, times: Tensor) -> Tensor:
        """Cached trunk features (B, F, C) + times (B, F) -> visual tokens (B, F, D)."""
        positions = (times / TIME_PRECISION).flatten()
        clock = sinusoids(positions, self.proj.out_features).view(*times.shape, -1)
        return self.ln(self.proj(feats)) + clock.to(feats.dtype)

    def load_trunk_weights(self, source: str) -> None:
        """'imagenet' (torchvision's weights API; needs a download or torch's cache) or a
        local .safetensors file of a ResNet state dict. Never unpickles."""
        if source == "imagenet":
            weights = torchvision.models.get_model_weights(self.backbone).IMAGENET1K_V1
            try:
                state = weights.get_state_dict(progress=False)
            except Exception as error:  # network errors come in many types
                raise RuntimeError(
                    f"ImageNet weights for {self.backbone} could not be downloaded "
                    f"({type(error).__name__}); pass a local .safetensors file instead"
                ) from error
        else:
            path = Path(source)
            if path.suffix != ".safetensors":
                raise ValueError(f"{path}: frame weights must be a .safetensors file")
            state = load_file(path)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        self.trunk.load_state_dict(state)
