"""Transformer TextDecoder: Whisper's decoder plus gated visual cross-attention per block.

Each block first attends to the visual tokens and runs a visual MLP, both scaled by
tanh(gate) with gates starting at 0 (Flamingo / Whisper-Flamingo): at 0 the block computes
exactly what Whisper computes. Then Whisper's self-attention, audio cross-attention, MLP.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.attention import KeyValue, MultiHeadAttention, is_key_major, key_major, mlp


@dataclass
class CrossCache:
    """Keys/values of the encoder outputs, computed once per window and reused every step."""

    # per layer, each (B, H, S, D/H) (or pieces of it: `runs`); keys in bfloat16 are held
    # key-major (model/attention.py `key_major`), and kept so by every method here.
    audio: list[KeyValue]
    visual: list[KeyValue] | None  # per layer, each (B, H, F, D/H); None: no visual branch
    visual_mask: Tensor | None  # (B, 1, 1, F) bool, True where a frame exists
    # (B, 1, 1, S) bool, True up to each window's own encoder length, when windows encoded
    # at different lengths share the batch (`join`); None: every position is real. A list
    # of pieces along with `audio`'s (`runs`).
    audio_mask: Tensor | list[Tensor] | None = None

    @staticmethod
    def join(parts: Iterable[CrossCache], rows: int, positions: int | None = None) -> CrossCache:
        """Windows encoded separately (`parts`, e.g. a generator that encodes them one at a
        time), as one batch of `rows` rows in the given order. Each part is copied into
        tensors allocated once and then dropped, so the batch's keys/values are held once
        and not twice, as joining a list of them with torch.cat would. positions: the longest
        part's encoder length, when parts were encoded at different lengths (audio only):
        shorter ones are zero-filled beyond their own and masked there (`audio_mask`)."""
        joined: CrossCache | None = None
        row = 0
        for part in parts:
            n = part.audio[0][0].shape[0]
            length = part.audio[0][0].shape[2]
            if joined is None:
                joined = _allocate(part, rows, positions)
            for into, kvs in ((joined.audio, part.audio), (joined.visual, part.visual)):
                for (k_into, v_into), (k, v) in zip(into or [], kvs or [], strict=True):
                    k_into[row : row + n, :, : k.shape[2]] = k
                    v_into[row : row + n, :, : v.shape[2]] = v
            if part.visual_mask is not None:
                joined.visual_mask[row : row + n] = part.visual_mask
            if joined.audio_mask is not None:
                if part.visual is not None or part.audio_mask is not None:
                    raise ValueError("windows of different lengths are joined audio only")
                joined.audio_mask[row : row + n, ..., :length] = True
            row += n
            del part
        if joined is None or row != rows:
            raise ValueError(f"expected {rows} encoded rows, got {row}")
        return joined

    def narrow(self, start: int, length: int) -> CrossCache:
        """Rows start .. start + length - 1 as views: no copy."""

        def part(kvs):
            return [(k.narrow(0, start, length), v.narrow(0, start, length)) for k, v in kvs]

        def rows_of(mask):
            return None if mask is None else mask.narrow(0, start, length)

        return CrossCache(
            audio=part(self.audio),
            visual=None if self.visual is None else part(self.visual),
            visual_mask=rows_of(self.visual_mask),
            audio_mask=rows_of(self.audio_mask),
        )

    def runs(self, runs: list[tuple[int, int]]) -> CrossCache:
        """The windows of the (start, length) runs, as views: each layer's audio keys/values
        become a list of pieces, one per run, that attention takes in turn. Beam search
        uses it when windows are done: copying the others' keys/values would hold them
        twice. Audio only."""
        if self.visual is not None:
            raise ValueError("runs of windows are for audio-only keys/values")
        audio = [[(k.narrow(0, s, n), v.narrow(0, s, n)) for s, n in runs] for k, v in self.audio]
        mask = self.audio_mask
        pieces = None if mask is None else [mask.narrow(0, s, n) for s, n in runs]
        return CrossCache(audio=audio, visual=None, visual_mask=None, audio_mask=pieces)

    def index_select(self, index: Tensor) -> CrossCache:
        """Rows of the batch in a new order (beam search, repeats for beams). All rows in
        their order is this cache itself: a copy would hold the batch's keys/values twice
        (~18 MB a window), and callers select "all windows" often (fallback, languages,
        alignment)."""
        rows = self.audio[0][0].shape[0]
        if index.numel() == rows and torch.equal(index.cpu(), torch.arange(rows)):
            return self

        def pick(kvs):
            return [(_select_rows(k, index), v.index_select(0, index)) for k, v in kvs]

        def rows_of(mask):
            return None if mask is None else mask.index_select(0, index)

        return CrossCache(
            audio=pick(self.audio),
            visual=None if self.visual is None else pick(self.visual),
            visual_mask=rows_of(self.visual_mask),
            audio_mask=rows_of(self.audio_mask),
        )


def _select_rows(k: Tensor, index: Tensor) -> Tensor:
    """index_select that keeps keys held key-major so (selected in their own layout)."""
    if is_key_major(k):
        return k.mT.index_select(0, index).mT
    return k.index_select(0, index)


def _allocate(like: CrossCache, rows: int, positions: int | None) -> CrossCache:
    """Keys/values for `rows` windows shaped as those of `like`; with `positions`, zeros
    (a masked key must still be a number: 0 * NaN would reach the output) that far, and
    an audio mask with nothing yet allowed."""

    def empty(kvs, length=None):
        new = torch.Tensor.new_empty if length is None else torch.Tensor.new_zeros

        def like_layout(t):  # keys held key-major (see `key_major`) stay so
            shape = (rows, t.shape[1], length or t.shape[2], t.shape[3])
            if is_key_major(t):
                return new(t, (*shape[:2], shape[3], shape[2])).transpose(-1, -2)
            return new(t, shape)

        return [tuple(like_layout(t) for t in kv) for kv in kvs]

    k = like.audio[0][0]
    return CrossCache(
        audio=empty(like.audio, positions),
        visual=None if like.visual is None else empty(like.visual),
        visual_mask=None
        if like.visual_mask is None
        else like.visual_mask.new_empty((rows, *like.visual_mask.shape[1:])),
        audio_mask=None
        if positions is None
        else torch.zeros((rows, 1, 1, positions), dtype=torch.bool, device=k.device),
    )


class DecoderBlock(nn.Module):
    def __init__(self, n_state: int, n_head: int, dropout: float = 0.0):
        super().__init__()
        # Gated visual branch (new; zero-initialised gates).
        self.visual_attn = MultiHeadAttention(n_state, n_head)
        self.visual_attn_ln = nn.LayerNorm(n_state)
        self.visual_attn_gate = nn.Parameter(torch.zeros(1))
        self.visual_mlp = mlp(n_state)
        self.visual_mlp_ln = nn.LayerNorm(n_state)
        self.visual_mlp_gate = nn.Parameter(torch.zeros(1))
        # Whisper's block.
        self.attn = MultiHeadAttention(n_state, n_head)
        self.attn_ln = nn.LayerNorm(n_state)
        self.cross_attn = MultiHeadAttention(n_state, n_head)
        self.cross_attn_ln = nn.LayerNorm(n_state)
        self.mlp = mlp(n_state)
        self.mlp_ln = nn.LayerNorm(n_state)
        self.dropout = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        """A new block's own tensors: its visual gates, closed (the sublayers reset their own)."""
        with torch.no_grad():
            self.visual_attn_gate.zero_()
            self.visual_mlp_gate.zero_()

    def forward(
        self,
        x: Tensor,
        audio_kv: KeyValue,
        visual_kv: KeyValue | None,
        visual_mask: Tensor | None,
        past: KeyValue | None,
        self_mask: Tensor | None,
        audio_mask: Tensor | list[Tensor] | None = None,
    ) -> tuple[Tensor, KeyValue]:
        """x: (B, T, D) -> (B, T, D) and this block's self-attention keys/values."""
        x, kv = self.attend_before_audio(x, visual_kv, visual_mask, past, self_mask)
        return self.attend_audio_and_mlp(x, audio_kv, audio_mask), kv

    def attend_before_audio(
        self,
        x: Tensor,
        visual_kv: KeyValue | None,
        visual_mask: Tensor | None,
        past: KeyValue | None,
        self_mask: Tensor | None,
    ) -> tuple[Tensor, KeyValue]:
        """The visual branch and self-attention: x (B, T, D) -> (B, T, D) and the keys/values.
        Split from `forward` so the aligner can read the audio cross-attention's input."""
        if visual_kv is not None:
            seen, _ = self.visual_attn(self.visual_attn_ln(x), kv=visual_kv, mask=visual_mask)
            x = x + torch.tanh(self.visual_attn_gate) * self.dropout(seen)
            x = x + torch.tanh(self.visual_mlp_gate) * self.dropout(
                self.visual_mlp(self.visual_mlp_ln(x))
            )
        attended, kv = self.attn(
            self.attn_ln(x), past=past, mask=self_mask, is_causal=past is None and x.shape[1] > 1
        )
        return x + self.dropout(attended), kv

    def attend_audio_and_mlp(
        self, x: Tensor, audio_kv: KeyValue, audio_mask: Tensor | list[Tensor] | None = None
    ) -> Tensor:
        """Audio cross-attention and the MLP: x (B, T, D) -> (B, T, D). audio_mask: see
        CrossCache.audio_mask."""
        attended = self.cross_attn(self.cross_attn_ln(x), kv=audio_kv, mask=audio_mask)[0]
        x = x + self.dropout(attended)
        return x + self.dropout(self.mlp(self.mlp_ln(x)))


class TextDecoder(nn.Module):
    def __init__(
        self, n_vocab: int, n_ctx: int, n_state: int, n_head: int, n_layer: int, dropout=0.0
    ):
        super().__init__()
        self.token_embedding = nn.Embedding(n_vocab, n_state)
        self.positional_embedding = nn.Parameter(torch.empty(n_ctx, n_state).normal_(std=0.01))
        self.blocks = nn.ModuleList(DecoderBlock(n_state, n_head, dropout) for _ in range(n_layer))
        self.ln = nn.LayerNorm(n_state)
        self.output_projection: nn.Module | None = None  # set only by quantize_int8
        self.cross_dtype: torch.dtype | None = None  # audio keys/values held in this type

    def output_logits(self, x: Tensor) -> Tensor:
        """x: (B, T, D) -> float logits (B, T, V), through the tied embedding, or through
        its int8 copy when model/quantize.py has made one."""
        if self.output_projection is not None:
            return self.output_projection(x).float()
        return F.linear(x, self.token_embedding.weight.to(x.dtype)).float()

    @property
    def visual_gates(self) -> list[Tensor]:
        return [g for b in self.blocks for g in (b.visual_attn_gate, b.visual_mlp_gate)]

    def uses_vision(self) -> bool:
        """False when every gate is exactly 0: the visual branch then adds exactly nothing."""
        return any(bool(g.detach().ne(0).any()) for g in self.visual_gates)

    def cross_cache(
        self, audio: Tensor, visual: Tensor | None, visual_mask: Tensor | None
    ) -> CrossCache:
        """audio: (B, 1500, D); visual: (B, F, D) or None; visual_mask: (B, F) bool."""
        audio_kv = [b.cross_attn.project_kv(audio) for b in self.blocks]
        if self.cross_dtype is not None:  # see model/cpu_precision.py
            dtype, layout = self.cross_dtype, torch.contiguous_format
            audio_kv = [
                (key_major(k, dtype), v.to(dtype, memory_format=layout, copy=True))
                for k, v in audio_kv
            ]
        if visual is None:
            return CrossCache(audio_kv, None, None)
        if visual_mask is None:
            visual_mask = torch.ones(visual.shape[:2], dtype=torch.bool, device=visual.device)
        # A window with no frames attends to one zero token whose output the gate scales;
        # SDPA with an all-False mask row would give NaN.
        visual_mask = visual_mask.clone()
        visual_mask[~visual_mask.any(dim=1), 0] = True
        visual_kv = [b.visual_attn.project_kv(visual) for b in self.blocks]
        return CrossCache(audio_kv, visual_kv, visual_mask[:, None, None, :])

    def forward(
        self,
        tokens: Tensor,
        cross: CrossCache,
        past: list[KeyValue] | None = None,
        positions: Tensor | None = None,
        self_mask: Tensor | None = None,
    ) -> tuple[Tensor, list[KeyValue]]:
        """tokens: (B, T) -> logits (B, T, V) and the self-attention cache for the next step.
        positions: (B, T) position ids (default: continuing after `past`); self_mask: bool,
        True = may attend, (B, 1, T, S) with S = past length + T (left-padded batches).
        `past` is consumed: each layer's entry is set to None as soon as that layer's
        longer keys/values exist, so a step holds the cache about once instead of twice."""
        if positions is None:
            offset = 0 if past is None else past[0][0].shape[2]
            positions = torch.arange(offset, offset + tokens.shape[1], device=tokens.device)
            positions = positions.expand(tokens.shape[0], -1)
        x = self.token_embedding(tokens) + self.positional_embedding[positions]
        new_past = []
        for i, block in enumerate(self.blocks):
            layer_past = None
            if past is not None:
                layer_past, past[i] = past[i], None
            x, kv = block(
                x,
                cross.audio[i],
                None if cross.visual is None else cross.visual[i],
                cross.visual_mask,
                layer_past,
                self_mask,
                cross.audio_mask,
            )
            del layer_past
            new_past.append(kv)
        x = self.ln(x)
        return self.output_logits(x), new_past

    def alignment_scores(
        self, tokens: Tensor, cross: CrossCache, heads: list[list[int]]
    ) -> tuple[Tensor, Tensor]:
        """One teacher-forced pass that also returns the audio cross-attention scores of the
        given [layer, head] pairs (pre-softmax, see MultiHeadAttention.scores).
        tokens: (B, T), right-padded (causal attention: padding never reaches earlier
        positions) -> final hidden states (B, T, D) and scores (B, len(heads), T,
        n_audio_ctx) in the order of `heads`. The logits are `output_logits(states)`, left
        to the caller to take one window at a time: (B, T, V) at once is ~20 MB a window.
        `forward` stays the decoding path; this one is opt-in."""
        positions = torch.arange(tokens.shape[1], device=tokens.device).expand(tokens.shape[0], -1)
        x = self.token_embedding(tokens) + self.positional_embedding[positions]
        by_head: dict[tuple[int, int], Tensor] = {}  # (layer, head) -> (B, T, n_audio_ctx)
        for i, block in enumerate(self.blocks):
            visual_kv = None if cross.visual is None else cross.visual[i]
            x, _ = block.attend_before_audio(x, visual_kv, cross.visual_mask, None, None)
            layer_heads = [head for layer, head in heads if layer == i]
            if layer_heads:
                layer_scores = block.cross_attn.scores(
                    block.cross_attn_ln(x), cross.audio[i], layer_heads
                )
                for k, head in enumerate(layer_heads):
                    by_head[(i, head)] = layer_scores[:, k]
            x = block.attend_audio_and_mlp(x, cross.audio[i], cross.audio_mask)
        scores = torch.stack([by_head[(layer, head)] for layer, head in heads], dim=1)
        return self.ln(x), scores.float()
