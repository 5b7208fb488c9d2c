"""What caption.py and serve.py hold in bfloat16 on a CPU that computes it natively
(AVX512-BF16 or AMX: e.g. AMD Zen 4, Intel Sapphire Rapids). Elsewhere bfloat16 products
are emulated and slower than float32, and everything stays float32.

Measured with bench/bench_speed.py (20.5 minutes of speech, 2 cores, Zen 4):
- The decoder's attention over the encoder output reads its keys/values at every step;
  in bfloat16 (held key-major, model/attention.py) a step's cross-attention over 8
  windows takes 6.9 instead of 12.1 ms, and the keys/values half the memory. Without
  --int8 the words came out as with float32 on every file.
- With --int8 (the fast setting) the audio encoder runs in bfloat16 too: 1.2x faster
  (oneDNN's bfloat16 products), WER 15.53% against 15.81% with float32 there (the words
  of a few chunks change either way). Without --int8 the encoder stays float32, the
  reference setting.
"""

from __future__ import annotations

import torch

from model.captioner import AVCaptioner
from model.decoder import TextDecoder


def native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 dot-product instructions (PyTorch's own probes)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def hold_in_bfloat16(model: AVCaptioner, encoder: bool) -> None:
    """The encoder keys/values of a transformer decoder, and with `encoder` the audio
    encoder's weights (it casts its input to them and returns its input's dtype)."""
    if isinstance(model.decoder, TextDecoder):
        model.decoder.cross_dtype = torch.bfloat16
    if encoder:
        model.encoder.to(torch.bfloat16)
