"""int8 dynamic quantisation of the decoder for CPU inference (`--int8`).

The decoder's Linear layers (except the transformer's per-step square projections, see
STEP_PROJECTION) get int8 weights, one scale per output channel (activations
are quantised per batch on the fly), and so does the tied output projection, which reads
the whole 51,864 x D embedding at every decoding step and is the largest single cost of a
step: int8 reads a quarter of the bytes. The token embedding itself stays float32 for the
lookups. The audio encoder is not quantised: int8 there saved little time and raised WER,
while the decoder alone in int8 kept it (README, Measured). (On a CPU with native
bfloat16, caption.py runs the encoder in bfloat16 instead: model/cpu_precision.py.)
CPU only (PyTorch's quantised kernels); a quantised model is for inference, never saved.
"""

from __future__ import annotations

import re
import warnings
from concurrent.futures import Future, ThreadPoolExecutor

import torch
from torch import Tensor, nn

from model.captioner import AVCaptioner
from model.decoder import TextDecoder

PER_CHANNEL = torch.ao.quantization.per_channel_dynamic_qconfig


def quantize_int8(model: AVCaptioner) -> AVCaptioner:
    if model.device.type != "cpu":
        raise ValueError("--int8 is for CPU inference; on a GPU use the default float weights")
    model.eval()
    # torch 2.9 points users of quantize_dynamic to torchao on every call; the eager API is
    # what ships with torch and is used here on purpose.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        _quantize_decoder(model.decoder)
    return model


# The transformer's square projections that run at every decoding step on one token per
# row stay float32: there fbgemm quantises the activations on every call, which costs more
# than the product itself on a few rows (README, Measured). The MLPs, and the key/value projections of the encoder output (1500 rows, once a window),
# are faster in int8.
STEP_PROJECTION = re.compile(
    r"(^|\.)(attn\.(query|key|value|out)|(cross|visual)_attn\.(query|out))$"
)


def _quantize_decoder(decoder: nn.Module) -> None:
    transformer = isinstance(decoder, TextDecoder)
    # With every visual gate at 0 the visual branch never runs: packing its weights would
    # only add to the start-up (quantising is ~15 ms a layer).
    skip_visual = transformer and not decoder.uses_vision()
    names = {
        name: PER_CHANNEL
        for name, module in decoder.named_modules()
        if isinstance(module, nn.Linear)
        and not (skip_visual and ".visual_" in name)
        and not (transformer and STEP_PROJECTION.search(name))
    }
    torch.ao.quantization.quantize_dynamic(decoder, names, dtype=torch.qint8, inplace=True)
    if isinstance(decoder, TextDecoder):
        decoder.output_projection = _PackedInBackground(decoder.token_embedding.weight)


def _pack_int8(weight: Tensor) -> nn.Module:
    """weight (V, D) -> an int8 dynamic Linear D -> V, one scale per output row."""
    projection = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    projection.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
    projection.qconfig = PER_CHANNEL
    return torch.ao.nn.quantized.dynamic.Linear.from_float(projection)


class _PackedInBackground(nn.Module):
    """The int8 copy of the tied output projection (51,864 x D), packed in a thread of its
    own, so that start-up does not wait for it; it runs
    beside the reading of the first files (PyTorch's kernels release the GIL). The first
    call waits for it if it is not ready."""

    def __init__(self, weight: Tensor):
        super().__init__()
        packer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="int8-pack")
        self._packed: Future = packer.submit(_pack_int8, weight)
        packer.shutdown(wait=False)  # the thread ends once the packing is done

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., D) -> (..., V)"""
        return self._packed.result()(x)
