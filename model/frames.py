"""FrameEncoder: a torchvision ResNet trunk turns sampled video frames into visual tokens.

Each frame's token carries a sinusoidal encoding of its time inside the window, on the
same 20 ms clock as the audio encoder's positions, so audio and video share one clock.

Three options for captioning from scratch (all off in the Whisper-compatible default):
`grid` > 1 pools the trunk's last feature map to grid x grid cells instead of one, so a
token keeps where things are in the picture (global pooling discards it, and motion is
a change of place); `n_layer` > 0 adds a temporal convolution (neighbouring frames: motion)
and that many self-attention blocks across the frames of a window; `summary` appends one
token per window, the trunk features max-pooled over its frames (what is there, whenever
it is: through per-frame tokens alone a from-scratch captioner did not learn the
synthetic set's shapes; README, Training).
Besides the ResNets, backbone "convnet" is a small CNN (four stride-2 convolutions) cheap
enough to train from scratch on a CPU, for small synthetic frames.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from model.attention import EncoderBlock, sinusoids
from model.audio import TIME_PRECISION

BACKBONES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "convnet": 128}
CONVNET_WIDTHS = (16, 32, 64, 128)  # "convnet": four stride-2 3x3 conv + GroupNorm + ReLU
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class GridAndGlobalMaxPool(nn.Module):
    """(B, C, H, W) -> (B, C * (grid^2 + 1)): max over each grid cell (where things are)
    and over the whole picture (what is there, wherever it is)."""

    def __init__(self, grid: int):
        super().__init__()
        self.grid = grid

    def forward(self, x: Tensor) -> Tensor:
        cells = nn.functional.adaptive_max_pool2d(x, self.grid).flatten(1)  # (B, C*grid^2)
        whole = nn.functional.adaptive_max_pool2d(x, 1).flatten(1)  # (B, C)
        return torch.cat([cells, whole], dim=1)


def trunk_features(backbone: str, grid: int) -> int:
    """Width of the trunk's output for this backbone and grid."""
    if backbone == "convnet":
        return BACKBONES[backbone] * (grid * grid + 1)
    return BACKBONES[backbone] * grid * grid


def build_convnet_trunk(grid: int = 1) -> nn.Module:
    """A small CNN cheap enough to train from scratch on a CPU (small synthetic frames):
    (B, 3, H, W) -> (B, 128 * (grid^2 + 1)). GroupNorm, so a row never depends on its
    batch; max pooling (a shape classifier on the synthetic frames learnt faster with it
    than with average pooling) per grid cell and over the whole picture."""
    layers, channels = [], 3
    for width in CONVNET_WIDTHS:
        layers += [
            nn.Conv2d(channels, width, 3, stride=2, padding=1),
            nn.GroupNorm(8, width),
            nn.ReLU(inplace=True),
        ]
        channels = width
    return nn.Sequential(*layers, GridAndGlobalMaxPool(grid))


def build_resnet_trunk(backbone: str, grid: int = 1) -> nn.Module:
    """A randomly initialised ResNet up to (grid x grid) pooling: (B, 3, H, W) -> (B, C*grid^2)."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown frame backbone {backbone!r}; choose from {sorted(BACKBONES)}")
    if backbone == "convnet":
        return build_convnet_trunk(grid)
    import torchvision  # here, not at the top: its import alone takes over a second

    trunk = getattr(torchvision.models, backbone)(weights=None)
    trunk.avgpool = nn.AdaptiveAvgPool2d(grid)
    trunk.fc = nn.Identity()
    return trunk


class FrameEncoder(nn.Module):
    def __init__(
        self,
        backbone: str,
        n_state: int,
        grid: int = 1,
        n_layer: int = 0,
        n_head: int = 4,
        summary: bool = False,
        with_trunk: bool = True,
    ):
        """with_trunk=False leaves the trunk out (None): for a captioning model whose visual
        gates are all 0, which never runs it (see model/checkpoint.py)."""
        super().__init__()
        self.backbone = backbone
        self.trunk = build_resnet_trunk(backbone, grid) if with_trunk else None
        self.proj = nn.Linear(trunk_features(backbone, grid), n_state)
        self.ln = nn.LayerNorm(n_state)
        self.summary_proj = nn.Linear(trunk_features(backbone, grid), n_state) if summary else None
        self.summary_ln = nn.LayerNorm(n_state) if summary else None
        self.temporal_conv = nn.Conv1d(n_state, n_state, 3, padding=1) if n_layer else None
        self.temporal = nn.ModuleList(EncoderBlock(n_state, n_head) for _ in range(n_layer))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, frames: Tensor) -> Tensor:
        """frames: (N, H, W, 3) uint8 RGB -> (N, C) pooled trunk features."""
        x = frames.permute(0, 3, 1, 2).float().div(255.0)  # (N, 3, H, W)
        x = (x - self.mean) / self.std
        return self.trunk(x)

    def forward(self, frames: Tensor, times: Tensor, mask: Tensor | None = None) -> Tensor:
        """frames: (B, F, H, W, 3) uint8; times: (B, F) seconds from the window start;
        mask: (B, F) bool, True where a frame exists. Returns visual tokens (B, F, D), or
        (B, F + 1, D) with the summary token last (its mask: `token_mask`)."""
        b, f = frames.shape[:2]
        feats = self.features(frames.flatten(0, 1)).view(b, f, -1)  # (B, F, C)
        return self.tokens_from_features(feats, times, mask)

    def tokens_from_features(
        self, feats: Tensor, times: Tensor, mask: Tensor | None = None
    ) -> Tensor:
        """Cached trunk features (B, F, C) + times (B, F) -> visual tokens (B, F, D), or
        (B, F + 1, D) with the summary token last."""
        positions = (times / TIME_PRECISION).flatten()
        clock = sinusoids(positions, self.proj.out_features).view(*times.shape, -1)
        x = self.ln(self.proj(feats)) + clock.to(feats.dtype)  # (B, F, D)
        x = self.temporal_blocks(x, mask)
        if self.summary_proj is None:
            return x
        present = torch.ones(feats.shape[:2], dtype=torch.bool, device=feats.device)
        present = present if mask is None else mask
        pooled = feats.masked_fill(~present[..., None], -torch.inf).amax(dim=1)  # (B, C)
        pooled = torch.where(present.any(dim=1, keepdim=True), pooled, torch.zeros_like(pooled))
        summary = self.summary_ln(self.summary_proj(pooled))  # (B, D), no clock: timeless
        return torch.cat([x, summary[:, None]], dim=1)  # (B, F + 1, D)

    def token_mask(self, mask: Tensor | None) -> Tensor | None:
        """The frames' mask (B, F) -> the visual tokens' mask: (B, F + 1) with a summary
        token, which exists where any frame does."""
        if mask is None or self.summary_proj is None:
            return mask
        return torch.cat([mask, mask.any(dim=1, keepdim=True)], dim=1)

    def temporal_blocks(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """The temporal convolution and self-attention across frames: (B, F, D) -> (B, F, D)."""
        if self.temporal_conv is None:
            return x
        if mask is not None:
            x = x * mask[..., None].to(x.dtype)  # padded frames are zeros for the convolution
        x = x + torch.nn.functional.gelu(self.temporal_conv(x.transpose(1, 2))).transpose(1, 2)
        key_mask = None
        if mask is not None:
            key_mask = mask.clone()
            key_mask[~key_mask.any(dim=1), 0] = True  # an all-False row would give NaN
            key_mask = key_mask[:, None, None, :]  # (B, 1, 1, F)
        for block in self.temporal:
            x = x + block.attn(block.attn_ln(x), mask=key_mask)[0]
            x = x + block.mlp(block.mlp_ln(x))
        return x

    def load_trunk_weights(self, source: str) -> None:
        """'imagenet' (torchvision's weights API; needs a download or torch's cache) or a
        local .safetensors file of a ResNet state dict. Never unpickles."""
        if self.backbone == "convnet" and source == "imagenet":
            raise ValueError("the convnet backbone has no ImageNet weights")
        if self.trunk is None:
            raise ValueError("this frame encoder was built without its trunk (captioning only)")
        if source == "imagenet":
            import torchvision

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
