"""int8 dynamic quantisation of the decoder for CPU inference (`--int8`).

The decoder's Linear layers (except the transformer's per-step square projections, see
STEP_PROJECTION) get int8 weights, one scale per output channel (activations
are quantised on the fly, each row on its own: `RowScaled`), and so does the tied output projection, which reads
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
    for parent in list(decoder.modules()):
        for child_name, child in parent.named_children():
            if isinstance(child, torch.ao.nn.quantized.dynamic.Linear):
                setattr(parent, child_name, RowScaled(child))
    if isinstance(decoder, TextDecoder):
        decoder.output_projection = _PackedInBackground(decoder.token_embedding.weight)


class RowScaled(nn.Module):
    """An int8 dynamic Linear whose input rows are each quantised on their own range.

    PyTorch's dynamic Linear quantises its whole input with one scale, from the batch's
    minimum and maximum, so a window's result depended on the other windows in its batch:
    a file came out differently alone and in a folder. Here each row x is mapped onto
    [0, 1], u = (x - lo) / (hi - lo) with its own lo and hi, and one fixed row holding 0
    and 1 joins the batch, so the scale is always that of [0, 1] and every row uses all of
    its levels; then W x = (hi - lo) W u + lo W 1."""

    def __init__(self, linear: nn.Module):
        super().__init__()
        self.linear = linear
        weight, bias = linear.weight().dequantize(), linear.bias()  # (out, in), (out,)
        self.register_buffer("bias", bias.detach().clone() if bias is not None else None)
        self.register_buffer("row_sums", weight.sum(dim=1))  # W 1, (out,)
        fence = torch.zeros(1, linear.in_features)
        fence[0, -1] = 1.0
        self.register_buffer("fence", fence)

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., in) -> (..., out)"""
        rows = x.reshape(-1, x.shape[-1])  # (N, in)
        lo = rows.amin(dim=1, keepdim=True)  # (N, 1)
        span = (rows.amax(dim=1, keepdim=True) - lo).clamp_min(1e-12)  # (N, 1)
        y = self.linear(torch.cat([(rows - lo) / span, self.fence]))[:-1]  # (N, out)
        if self.bias is not None:
            y = y - self.bias
        y = y * span + lo * self.row_sums
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], y.shape[-1])


def _pack_int8(weight: Tensor) -> nn.Module:
    """weight (V, D) -> an int8 dynamic Linear D -> V, one scale per output row."""
    projection = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    projection.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
    projection.qconfig = PER_CHANNEL
    return RowScaled(torch.ao.nn.quantized.dynamic.Linear.from_float(projection))


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
