"""Import Whisper weights: CTranslate2 model directories and openai-whisper `.pt` files.

A CTranslate2 `model.bin` (format version 6), little-endian: u32 version; string spec name;
u32 spec revision; u32 variable count; per variable: string name, u8 rank, u32 x rank dims,
u8 dtype, u32 byte count, raw bytes; then u32 alias count and (alias, target) string
pairs. A string is a u16 byte length (NUL included) and the bytes. Weights are mapped to
openai-whisper's parameter names, which AVCaptioner uses.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import torch

from model.config import ModelConfig

CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.offset, self.path = data, 0, path

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values

    def string(self) -> str:
        (length,) = self.take("H")
        text = self.data[self.offset : self.offset + length - 1].decode("utf-8")
        self.offset += length
        return text


def read_ct2_variables(path: Path) -> dict[str, torch.Tensor]:
    """All variables of a CTranslate2 model.bin, aliases resolved, int8 dequantised, float32."""
    data = path.read_bytes()
    reader = _Reader(data, path)
    try:
        (version,) = reader.take("I")
        if version != 6:
            raise ValueError(f"format version {version}, expected 6")
        spec = reader.string()
        if spec != "WhisperSpec":
            raise ValueError(f"spec {spec!r} is not a Whisper model")
        reader.take("I")  # spec revision
        (count,) = reader.take("I")
        raw: dict[str, torch.Tensor] = {}
        for _ in range(count):
            name = reader.string()
            (rank,) = reader.take("B")
            dims = reader.take("I" * rank)
            (dtype_code,) = reader.take("B")
            (nbytes,) = reader.take("I")
            chunk = data[reader.offset : reader.offset + nbytes]
            reader.offset += nbytes
            if CT2_DTYPES[dtype_code] == "bfloat16":
                array = torch.frombuffer(bytearray(chunk), dtype=torch.bfloat16).float()
            else:
                array = torch.from_numpy(np.frombuffer(chunk, dtype=CT2_DTYPES[dtype_code]).copy())
            raw[name] = array.reshape(dims)
        (alias_count,) = reader.take("I")
        for _ in range(alias_count):
            alias, target = reader.string(), reader.string()
            raw[alias] = raw[target]
    except (struct.error, KeyError, UnicodeDecodeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: not a readable CTranslate2 Whisper model ({error})") from error
    variables = {}
    for name, value in raw.items():
        if name.endswith("/weight_scale"):
            continue
        scale = raw.get(name + "_scale")
        if scale is not None and value.dtype == torch.int8:
            # CTranslate2 int8: w_int8 = round(w * scale) per output row.
            value = value.float() / scale.float().reshape(-1, *[1] * (value.dim() - 1))
        variables[name] = value.float() if value.is_floating_point() else value
    return variables


def _ct2_attention(out: dict, prefix: str, v: dict, src: str, fused: str) -> None:
    """Split CTranslate2's fused projections into Whisper's query/key/value/out."""
    if fused == "qkv":
        q_w, k_w, v_w = v[f"{src}/linear_0/weight"].chunk(3)
        q_b, _, v_b = v[f"{src}/linear_0/bias"].chunk(3)  # the key bias is stored as zeros
        out_name = "linear_1"
    else:  # cross-attention: query in linear_0, fused key/value in linear_1
        q_w, q_b = v[f"{src}/linear_0/weight"], v[f"{src}/linear_0/bias"]
        k_w, v_w = v[f"{src}/linear_1/weight"].chunk(2)
        _, v_b = v[f"{src}/linear_1/bias"].chunk(2)
        out_name = "linear_2"
    out.update({
        f"{prefix}.query.weight": q_w, f"{prefix}.query.bias": q_b,
        f"{prefix}.key.weight": k_w,
        f"{prefix}.value.weight": v_w, f"{prefix}.value.bias": v_b,
        f"{prefix}.out.weight": v[f"{src}/{out_name}/weight"],
        f"{prefix}.out.bias": v[f"{src}/{out_name}/bias"],
    })  # fmt: skip


def _layer_norm(out: dict, prefix: str, v: dict, src: str) -> None:
    out[f"{prefix}.weight"] = v[f"{src}/gamma"]
    out[f"{prefix}.bias"] = v[f"{src}/beta"]


def _ffn(out: dict, prefix: str, v: dict, src: str) -> None:
    _layer_norm(out, f"{prefix}.mlp_ln", v, f"{src}/ffn/layer_norm")
    for ours, theirs in (("mlp.0", "linear_0"), ("mlp.2", "linear_1")):
        out[f"{prefix}.{ours}.weight"] = v[f"{src}/ffn/{theirs}/weight"]
        out[f"{prefix}.{ours}.bias"] = v[f"{src}/ffn/{theirs}/bias"]


def _count_layers(v: dict, side: str) -> int:
    return len({m.group(1) for n in v if (m := re.match(rf"{side}/layer_(\d+)/", n))})


def ct2_to_whisper(v: dict[str, torch.Tensor]) -> tuple[dict, dict[str, torch.Tensor]]:
    """CTranslate2 variables -> (openai-whisper `dims`, state dict in openai-whisper names)."""
    # Note: "encoder/layer_norm" also starts with "layer_"; _count_layers wants a digit.
    dims = {
        "n_mels": v["encoder/conv1/weight"].shape[1],
        "n_audio_ctx": v["encoder/position_encodings/encodings"].shape[0],
        "n_audio_state": v["encoder/conv1/weight"].shape[0],
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": _count_layers(v, "encoder"),
        "n_vocab": v["decoder/embeddings/weight"].shape[0],
        "n_text_ctx": v["decoder/position_encodings/encodings"].shape[0],
        "n_text_state": v["decoder/embeddings/weight"].shape[1],
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": _count_layers(v, "decoder"),
    }
    s: dict[str, torch.Tensor] = {}
    for name in ("conv1", "conv2"):
        s[f"encoder.{name}.weight"] = v[f"encoder/{name}/weight"]
        s[f"encoder.{name}.bias"] = v[f"encoder/{name}/bias"]
    s["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    for i in range(dims["n_audio_layer"]):
        p, src = f"encoder.blocks.{i}", f"encoder/layer_{i}"
        _layer_norm(s, f"{p}.attn_ln", v, f"{src}/self_attention/layer_norm")
        _ct2_attention(s, f"{p}.attn", v, f"{src}/self_attention", "qkv")
        _ffn(s, p, v, src)
    _layer_norm(s, "encoder.ln_post", v, "encoder/layer_norm")
    s["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    s["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    for i in range(dims["n_text_layer"]):
        p, src = f"decoder.blocks.{i}", f"decoder/layer_{i}"
        _layer_norm(s, f"{p}.attn_ln", v, f"{src}/self_attention/layer_norm")
        _ct2_attention(s, f"{p}.attn", v, f"{src}/self_attention", "qkv")
        _layer_norm(s, f"{p}.cross_attn_ln", v, f"{src}/attention/layer_norm")
        _ct2_attention(s, f"{p}.cross_attn", v, f"{src}/attention", "kv")
        _ffn(s, p, v, src)
    _layer_norm(s, "decoder.ln", v, "decoder/layer_norm")
    return dims, {k: t.float().contiguous() for k, t in s.items()}


def read_ct2_directory(folder: Path) -> tuple[ModelConfig, dict[str, torch.Tensor], Path]:
    """A CTranslate2 Whisper directory -> (config, whisper state dict, tokenizer.json path)."""
    dims, state = ct2_to_whisper(read_ct2_variables(folder / "model.bin"))
    extra = {}
    config_path = folder / "config.json"
    if config_path.exists():
        extra = json.loads(config_path.read_text())
    config = ModelConfig(
        **dims,
        suppress_ids=list(extra.get("suppress_ids", [])),
        suppress_ids_begin=list(extra.get("suppress_ids_begin", [])),
        alignment_heads=[list(h) for h in extra.get("alignment_heads", [])],
    )
    tokenizer_path = folder / "tokenizer.json"
    if not tokenizer_path.exists():
        raise ValueError(f"{folder}: no tokenizer.json beside model.bin")
    return config, state, tokenizer_path


def read_openai_checkpoint(path: Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """An openai-whisper `.pt` file -> (config, state dict). Loaded with weights_only=True:
    tensors and plain containers only, never arbitrary pickled objects."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        dims = dict(checkpoint["dims"])
        state = {k: t.float() for k, t in checkpoint["model_state_dict"].items()}
    except Exception as error:
        raise ValueError(f"{path}: not a readable openai-whisper checkpoint ({error})") from error
    return ModelConfig(**dims), state
