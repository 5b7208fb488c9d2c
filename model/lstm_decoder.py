"""LSTM attention decoder with modality attention (Hori et al. 2017, "Attention-Based
Multimodal Fusion for Video Description").

At every step, with the previous LSTM state s (B, D):
  - additive attention (n_text_head heads) over the audio tokens gives an audio context
    c_a (B, D), and over the visual tokens a visual context c_v (B, D);
  - the modality attention scores each context against s and mixes their projections:
    g = beta_a * W_a c_a + beta_v * W_v c_v, beta = softmax over the two modalities;
  - the LSTM cell reads [embedding(previous token); g] and gives the new state;
  - the output layer reads [new state; g] and scores the vocabulary (tied embedding).

The state starts from the encoder outputs averaged over time, audio and picture apart
(Xu et al. 2015, "Show, Attend and Tell"): (h0, c0) = tanh(W [mean audio; mean visual]).
From zeros, the only way to a clip-wide fact such as the beep count was the audio
attention finding the summary token among 151 at the very step the count is written, and
the LSTM never learnt it (README, Training).

It has the transformer decoder's interface: `cross_cache(audio, visual, mask)` once per
window, then `forward(tokens, cross, past)` with `past` = [(h, c)], so the search's
greedy/beam code (which reorders `past` rows with index_select) runs it unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.decoder import CrossCache


class AdditiveAttention(nn.Module):
    """Bahdanau attention with n_head heads: head h scores x_i with w_h . tanh(W q + K x_i)
    and averages its own D/H slice of the values. One head has to choose between the
    synthetic set's summary token (shape) and the per-frame tokens (direction), so the
    LSTM learnt one of the two, not both; with two it still missed the direction on one
    seed, and a scratch model now gets heads of 32 (README, Training)."""

    def __init__(self, n_state: int, n_head: int = 1):
        super().__init__()
        self.n_head = n_head
        self.key = nn.Linear(n_state, n_state)
        self.query = nn.Linear(n_state, n_state, bias=False)
        self.score = nn.Linear(n_state, n_head, bias=False)

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None) -> Tensor:
        """query (B, D), keys (B, S, D) = self.key(values), values (B, S, D), mask (B, S)
        bool True = may attend -> context (B, D), the heads' contexts side by side."""
        scores = self.score(torch.tanh(keys + self.query(query)[:, None]))  # (B, S, H)
        if mask is not None:
            scores = scores.masked_fill(~mask[..., None], -torch.inf)
        weights = scores.softmax(dim=1)  # (B, S, H)
        b, s, d = values.shape
        heads = values.view(b, s, self.n_head, d // self.n_head)  # (B, S, H, D/H)
        return torch.einsum("bsh,bshd->bhd", weights, heads).reshape(b, d)


class LSTMDecoder(nn.Module):
    def __init__(self, n_vocab: int, n_state: int, dropout: float = 0.0, n_head: int = 1):
        super().__init__()
        self.token_embedding = nn.Embedding(n_vocab, n_state)
        self.audio_attn = AdditiveAttention(n_state, n_head)
        self.visual_attn = AdditiveAttention(n_state, n_head)
        # Modality attention: beta_m = softmax_m(w . tanh(W s + V_m c_m)).
        self.modality_query = nn.Linear(n_state, n_state, bias=False)
        self.audio_modality_key = nn.Linear(n_state, n_state)
        self.visual_modality_key = nn.Linear(n_state, n_state)
        self.modality_score = nn.Linear(n_state, 1, bias=False)
        self.audio_out = nn.Linear(n_state, n_state)
        self.visual_out = nn.Linear(n_state, n_state)
        self.initial_state = nn.Linear(2 * n_state, 2 * n_state)  # -> [h0; c0]
        self.cell = nn.LSTMCell(2 * n_state, n_state)
        with torch.no_grad():  # forget-gate bias 1 (gates: input, forget, cell, output)
            self.cell.bias_ih[n_state : 2 * n_state].fill_(1.0)
            self.cell.bias_hh[n_state : 2 * n_state].zero_()
        self.out = nn.Linear(2 * n_state, n_state)
        self.ln = nn.LayerNorm(n_state)
        self.dropout = nn.Dropout(dropout)

    @property
    def visual_gates(self) -> list[Tensor]:
        return []  # no gates: the modality attention decides per step

    def uses_vision(self) -> bool:
        return True

    def cross_cache(
        self, audio: Tensor, visual: Tensor | None, visual_mask: Tensor | None
    ) -> CrossCache:
        """audio: (B, S, D); visual: (B, F, D) or None; visual_mask: (B, F) bool.
        Keys of the additive attentions are computed once here."""
        audio_kv = [(self.audio_attn.key(audio), audio)]
        if visual is None:
            return CrossCache(audio_kv, None, None)
        if visual_mask is None:
            visual_mask = torch.ones(visual.shape[:2], dtype=torch.bool, device=visual.device)
        return CrossCache(audio_kv, [(self.visual_attn.key(visual), visual)], visual_mask)

    def start_state(self, cross: CrossCache) -> tuple[Tensor, Tensor]:
        """(h0, c0), each (B, D): from the time-averaged audio tokens and the averaged
        visual tokens (zeros for a window without frames)."""
        audio = cross.audio[0][1]  # (B, S, D)
        pooled_audio = audio.mean(dim=1)  # (B, D)
        pooled_visual = torch.zeros_like(pooled_audio)
        if cross.visual is not None:
            visual = cross.visual[0][1]  # (B, F, D)
            weights = cross.visual_mask.to(visual.dtype)[..., None]  # (B, F, 1)
            pooled_visual = (visual * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        state = torch.tanh(self.initial_state(torch.cat([pooled_audio, pooled_visual], -1)))
        h, c = state.chunk(2, dim=-1)  # (B, D) each
        return h, c

    def step(self, token: Tensor, cross: CrossCache, h: Tensor, c: Tensor):
        """token (B,), state h, c (B, D) -> logits (B, V), new h, c."""
        audio_keys, audio = cross.audio[0]
        contexts = [self.audio_attn(h, audio_keys, audio, None)]  # (B, D)
        keys = [self.audio_modality_key]
        outs = [self.audio_out]
        present = [torch.ones(h.shape[0], dtype=torch.bool, device=h.device)]
        if cross.visual is not None:
            visual_keys, visual = cross.visual[0]
            mask = cross.visual_mask  # (B, F)
            has_frames = mask.any(dim=1)  # (B,)
            safe_mask = mask | ~has_frames[:, None]  # rows without frames: masked out below
            contexts.append(self.visual_attn(h, visual_keys, visual, safe_mask))
            keys.append(self.visual_modality_key)
            outs.append(self.visual_out)
            present.append(has_frames)
        query = self.modality_query(h)  # (B, D)
        scores = torch.stack(
            [
                self.modality_score(torch.tanh(query + k(ctx))).squeeze(-1)
                for k, ctx in zip(keys, contexts, strict=True)
            ],
            dim=1,
        )  # (B, M)
        scores = scores.masked_fill(~torch.stack(present, dim=1), -torch.inf)
        beta = scores.softmax(dim=1)  # (B, M)
        fused = sum(beta[:, m, None] * outs[m](ctx) for m, ctx in enumerate(contexts))  # (B, D)
        embedded = self.dropout(self.token_embedding(token))  # (B, D)
        h, c = self.cell(torch.cat([embedded, fused], dim=-1), (h, c))
        hidden = self.ln(torch.tanh(self.out(self.dropout(torch.cat([h, fused], dim=-1)))))
        logits = hidden @ self.token_embedding.weight.to(hidden.dtype).T  # (B, V)
        return logits, h, c

    def forward(
        self,
        tokens: Tensor,
        cross: CrossCache,
        past: list[tuple[Tensor, Tensor]] | None = None,
        positions: Tensor | None = None,
        self_mask: Tensor | None = None,
    ) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """tokens: (B, T) -> logits (B, T, V) and the LSTM state [(h, c)], each (B, D).
        positions and self_mask are accepted for interface parity and not needed."""
        h, c = self.start_state(cross) if past is None else past[0]
        logits = []
        for t in range(tokens.shape[1]):
            step_logits, h, c = self.step(tokens[:, t], cross, h, c)
            logits.append(step_logits)
        return torch.stack(logits, dim=1).float(), [(h, c)]  # (B, T, V)
