"""What caption.py and serve.py hold in bfloat16 on a CPU that computes it natively
(AVX512-BF16 or AMX: e.g. AMD Zen 4, Intel Sapphire Rapids). Elsewhere bfloat16 products
are emulated and slower than float32, and everything stays float32.

- The decoder's attention over the encoder output reads its keys/values at every step:
  they are held in bfloat16 (key-major, model/attention.py), which is faster and half the
  memory, and leaves the words as float32 gives them.
- With --int8 (the fast setting) the audio encoder runs in bfloat16 too (oneDNN's
  bfloat16 products); without --int8 it stays float32, the reference setting.
Speed and WER of both: README, Measured (`python bench/bench_speed.py`).
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
