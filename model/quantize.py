"""int8 dynamic quantisation for CPU inference (`--int8`).

Every nn.Linear gets int8 weights (activations are quantised per batch on the fly), and so
does the tied output projection, which reads the whole 51,864 x D embedding every decoding
step and is the largest single cost of a step: int8 reads a quarter of the bytes. The
token embedding itself stays float32 for the lookups. CPU only (PyTorch's quantised
kernels); a quantised model is for inference, never saved.
"""

from __future__ import annotations

import torch
from torch import nn

from model.captioner import AVCaptioner
from model.decoder import TextDecoder


def quantize_int8(model: AVCaptioner) -> AVCaptioner:
    if model.device.type != "cpu":
        raise ValueError("--int8 is for CPU inference; on a GPU use the default float weights")
    model.eval()
    torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
    decoder = model.decoder
    if isinstance(decoder, TextDecoder):
        embedding = decoder.token_embedding.weight
        projection = nn.Linear(embedding.shape[1], embedding.shape[0], bias=False)
        projection.weight = nn.Parameter(embedding.detach().clone(), requires_grad=False)
        wrapped = torch.ao.quantization.quantize_dynamic(
            nn.Sequential(projection), {nn.Linear}, dtype=torch.qint8
        )
        decoder.output_projection = wrapped[0]
    return model
