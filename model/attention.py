"""Multi-head attention with a key/value cache, the pre-LayerNorm residual block, sinusoids.

Module and parameter names follow openai/whisper so its checkpoints load by name.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KeyValue = tuple[Tensor, Tensor]  # each (B, H, S, D/H)


def sinusoids(positions: Tensor, channels: int, max_timescale: float = 10000.0) -> Tensor:
    """Whisper's sinusoidal encoding at (possibly fractional) positions: (N,) -> (N, channels)."""
    assert channels % 2 == 0
    log_timescale_increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_timescale_increment * torch.arange(channels // 2))
    scaled_time = positions.float()[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


def _attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool) -> Tensor:
    """q (R, H, T, D/H), k and v (W, H, S, D/H) with R a multiple of W -> (R, H, T, D/H).
    With R > W the mask is per window, broadcastable to (W, 1, 1, S). Keys/values held in
    a narrower type (bfloat16) are attended in it, the output cast back."""
    if k.dtype != q.dtype:
        return _attend(q.to(k.dtype), k, v, mask, is_causal).to(q.dtype)
    rows, windows = q.shape[0], k.shape[0]
    if rows == windows:
        return _attend_windows(q, k, v, mask, is_causal)
    # Several decoder rows per window (beams, samples) share its keys/values: fold them
    # into the query length instead of copying the keys/values per row, which would read
    # the 1500 encoder positions once per beam at every step.
    r, h, t, hd = q.shape
    group = rows // windows
    q = q.view(windows, group, h, t, hd).transpose(1, 2).reshape(windows, h, group * t, hd)
    out = _attend_windows(q, k, v, mask, is_causal=False)
    return out.view(windows, h, group, t, hd).transpose(1, 2).reshape(r, h, t, hd)


def _attend_windows(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool):
    """One row of q per row of k: q (W, H, T, D/H) -> (W, H, T, D/H); keys held key-major
    by two batched products, others by PyTorch's SDPA."""
    if is_key_major(k) and not is_causal:
        return _attend_key_major(q, k, v, mask)
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=is_causal and mask is None
    )


def key_major(k: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """Keys (B, H, S, D/H) as a view of (B, H, D/H, S) memory (in `dtype`, one copy), for
    `_attend_key_major`."""
    layout = torch.contiguous_format  # copy=True: `to` ignores the layout when the dtype matches
    return k.mT.to(dtype or k.dtype, memory_format=layout, copy=True).mT


def is_key_major(k: Tensor) -> bool:
    return k.dim() == 4 and k.shape[-2] > 1 and k.stride(-2) == 1


def _attend_key_major(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    """Attention as two plain batched products, for keys held key-major in bfloat16 (the
    encoder keys that beam search reads at every step): q (W, H, T, D/H), k (W, H, S, D/H),
    v (W, H, S, D/H), mask bool broadcastable to (W, H, T, S) -> (W, H, T, D/H).
    A step's queries are few (T = 5 beams): PyTorch's CPU flash kernel then works in
    small tiles, and q @ k^T over contiguous key rows is faster (README, Measured). The
    softmax is taken in float32."""
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-1, -2))  # (W, H, T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, -torch.inf)
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(v.dtype)
    return torch.matmul(weights, v)


class MultiHeadAttention(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)  # Whisper's key has no bias
        self.value = nn.Linear(n_state, n_state)
        self.out = nn.Linear(n_state, n_state)

    def split_heads(self, x: Tensor) -> Tensor:
        b, t, d = x.shape  # (B, T, D) -> (B, H, T, D/H)
        return x.view(b, t, self.n_head, d // self.n_head).transpose(1, 2)

    def project_kv(self, x: Tensor) -> KeyValue:
        """Keys and values of `x` (B, S, D), e.g. encoder output computed once per window."""
        return self.split_heads(self.key(x)), self.split_heads(self.value(x))

    def forward(
        self,
        x: Tensor,
        kv: KeyValue | list[KeyValue] | None = None,
        past: KeyValue | None = None,
        mask: Tensor | list[Tensor] | None = None,
        is_causal: bool = False,
    ) -> tuple[Tensor, KeyValue | list[KeyValue]]:
        """x: (B, T, D). Self-attention when `kv` is None (keys appended to `past`), else
        attention to the given keys/values. mask: bool, True = may attend, broadcastable to
        (B, H, T, S), or to (B / g, H, g * T, S) for shared keys/values. Given keys/values
        may hold B / g rows, each shared by g consecutive rows of x (the beams of one
        window), or be a list of such pieces for consecutive runs of those rows (the mask
        then None or a list of pieces alike). Returns (B, T, D) and the keys/values used."""
        q = self.split_heads(self.query(x))
        if kv is None:
            k, v = self.project_kv(x)
            if past is not None:
                k = torch.cat([past[0], k], dim=2)
                v = torch.cat([past[1], v], dim=2)
            kv = (k, v)
        if isinstance(kv, list):
            # The keys/values of the windows still decoding, as views of runs of windows
            # (CrossCache.runs): each run attends with its own rows, nothing is copied.
            pieces, row = [], 0
            group = q.shape[0] // sum(k.shape[0] for k, _ in kv)
            masks = mask if isinstance(mask, list) else [mask] * len(kv)
            for (k, v), piece_mask in zip(kv, masks, strict=True):
                n = k.shape[0] * group
                pieces.append(_attend(q[row : row + n], k, v, piece_mask, is_causal))
                row += n
            out = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
        else:
            out = _attend(q, kv[0], kv[1], mask, is_causal)
        b, h, t, hd = out.shape
        return self.out(out.transpose(1, 2).reshape(b, t, h * hd)), kv

    def scores(self, x: Tensor, kv: KeyValue, heads: list[int]) -> Tensor:
        """Pre-softmax scores q.k^T / sqrt(D/H) of the chosen heads, which SDPA never exposes:
        x (B, T, D), keys (B, H, S, D/H) -> (B, len(heads), T, S). Only the word aligner
        calls this (one teacher-forced pass), so decoding keeps the fused SDPA kernel."""
        q = self.split_heads(self.query(x))[:, heads]  # (B, A, T, D/H)
        k = kv[0][:, heads].to(q.dtype)  # (B, A, S, D/H); a copy of these heads if narrower
        return (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5


def mlp(n_state: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_state, 4 * n_state), nn.GELU(), nn.Linear(4 * n_state, n_state)
    )


class EncoderBlock(nn.Module):
    """Pre-LayerNorm self-attention + MLP (Whisper's ResidualAttentionBlock without cross)."""

    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.attn = MultiHeadAttention(n_state, n_head)
        self.attn_ln = nn.LayerNorm(n_state)
        self.mlp = mlp(n_state)
        self.mlp_ln = nn.LayerNorm(n_state)

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, T, D) -> (B, T, D)
        x = x + self.attn(self.attn_ln(x))[0]
        return x + self.mlp(self.mlp_ln(x))
