"""Tiny Whisper-format models for tests: random weights written the way real ones are.

`write_ct2_directory` writes a CTranslate2 `model.bin` (format 6, the inverse of
model/whisper_import.py's mapping, written independently so the two can be checked
against each other); `write_openai_pt` writes an openai-whisper `.pt`; and
`multilingual_tokenizer_json` renumbers the bundled English tokenizer into Whisper's
multilingual layout (<|endoftext|> 50257, languages from 50259, ...).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import default_model_directory
from model.tokenizer import LANGUAGES

TINY_DIMS = dict(
    n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
    n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2,
)  # fmt: skip


def random_whisper_state(dims: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict in openai-whisper's names (encoder/decoder only)."""
    from model.captioner import AVCaptioner
    from model.config import ModelConfig

    torch.manual_seed(seed)
    model = AVCaptioner(ModelConfig(**dims))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=0.05)
    state = model.state_dict()
    keep = {
        k: v
        for k, v in state.items()
        if k.startswith(("encoder.", "decoder.")) and "visual_" not in k
    }
    for k in list(keep):
        if k.endswith("key.bias"):
            del keep[k]
    return keep


def _string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("<H", len(data)) + data


def _variable(name: str, array: np.ndarray) -> bytes:
    codes = {
        np.dtype(np.float32): 0,
        np.dtype(np.int8): 1,
        np.dtype(np.int16): 2,
        np.dtype(np.float16): 4,
    }
    out = (
        _string(name)
        + struct.pack("<B", array.ndim)
        + struct.pack("<" + "I" * array.ndim, *array.shape)
    )
    raw = np.ascontiguousarray(array).tobytes()
    return out + struct.pack("<BI", codes[array.dtype], len(raw)) + raw


def whisper_to_ct2(state: dict[str, torch.Tensor], dims: dict) -> dict[str, np.ndarray]:
    """openai-whisper names -> CTranslate2 variables (fused projections, zero key bias)."""
    s = {k: v.numpy() for k, v in state.items()}
    v: dict[str, np.ndarray] = {}

    def ln(dst, src):
        v[f"{dst}/gamma"], v[f"{dst}/beta"] = s[f"{src}.weight"], s[f"{src}.bias"]

    def linear(dst, src):
        v[f"{dst}/weight"], v[f"{dst}/bias"] = s[f"{src}.weight"], s[f"{src}.bias"]

    def attention(dst, src, cross):
        zeros = np.zeros_like(s[f"{src}.query.bias"])
        if cross:
            linear(f"{dst}/linear_0", f"{src}.query")
            v[f"{dst}/linear_1/weight"] = np.concatenate(
                [s[f"{src}.key.weight"], s[f"{src}.value.weight"]]
            )
            v[f"{dst}/linear_1/bias"] = np.concatenate([zeros, s[f"{src}.value.bias"]])
            linear(f"{dst}/linear_2", f"{src}.out")
        else:
            v[f"{dst}/linear_0/weight"] = np.concatenate(
                [s[f"{src}.{n}.weight"] for n in ("query", "key", "value")]
            )
            v[f"{dst}/linear_0/bias"] = np.concatenate(
                [s[f"{src}.query.bias"], zeros, s[f"{src}.value.bias"]]
            )
            linear(f"{dst}/linear_1", f"{src}.out")

    def block(dst, src, cross):
        ln(f"{dst}/self_attention/layer_norm", f"{src}.attn_ln")
        attention(f"{dst}/self_attention", f"{src}.attn", False)
        if cross:
            ln(f"{dst}/attention/layer_norm", f"{src}.cross_attn_ln")
            attention(f"{dst}/attention", f"{src}.cross_attn", True)
        ln(f"{dst}/ffn/layer_norm", f"{src}.mlp_ln")
        linear(f"{dst}/ffn/linear_0", f"{src}.mlp.0")
        linear(f"{dst}/ffn/linear_1", f"{src}.mlp.2")

    for conv in ("conv1", "conv2"):
        linear(f"encoder/{conv}", f"encoder.{conv}")
    v["encoder/position_encodings/encodings"] = s["encoder.positional_embedding"]
    v["encoder/num_heads"] = np.array(dims["n_audio_head"], dtype=np.int16)
    for i in range(dims["n_audio_layer"]):
        block(f"encoder/layer_{i}", f"encoder.blocks.{i}", False)
    ln("encoder/layer_norm", "encoder.ln_post")
    v["decoder/embeddings/weight"] = s["decoder.token_embedding.weight"]
    v["decoder/position_encodings/encodings"] = s["decoder.positional_embedding"]
    v["decoder/num_heads"] = np.array(dims["n_text_head"], dtype=np.int16)
    for i in range(dims["n_text_layer"]):
        block(f"decoder/layer_{i}", f"decoder.blocks.{i}", True)
    ln("decoder/layer_norm", "decoder.ln")
    return v


def write_ct2_directory(
    folder: Path, state: dict, dims: dict, tokenizer_json: str, float16: bool = True
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    variables = whisper_to_ct2(state, dims)
    if float16:
        variables = {
            k: a.astype(np.float16) if a.dtype == np.float32 else a for k, a in variables.items()
        }
    body = b"".join(_variable(name, array) for name, array in sorted(variables.items()))
    aliases = (
        struct.pack("<I", 1)
        + _string("decoder/projection/weight")
        + _string("decoder/embeddings/weight")
    )
    header = struct.pack("<I", 6) + _string("WhisperSpec") + struct.pack("<II", 3, len(variables))
    (folder / "model.bin").write_bytes(header + body + aliases)
    (folder / "tokenizer.json").write_text(tokenizer_json)
    return folder


def write_openai_pt(path: Path, state: dict, dims: dict) -> Path:
    torch.save({"dims": dims, "model_state_dict": state}, path)
    return path


def multilingual_tokenizer_json() -> str:
    """The bundled English tokenizer renumbered into the multilingual special-token layout."""
    data = json.loads((default_model_directory() / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    vocab.pop("<|endoftext|>", None)
    vocab["<|placeholder|>"] = 50256
    specials = ["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{c}|>" for c in LANGUAGES[:99]]
    specials += [
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
    ]
    template = data["added_tokens"][0]
    data["added_tokens"] = [
        dict(template, id=50257 + i, content=name) for i, name in enumerate(specials)
    ]
    data["post_processor"] = None
    return json.dumps(data)
