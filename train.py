"""Train or fine-tune an AVCaptioner: python train.py [options], or torchrun ... train.py.

With no arguments: build the synthetic audio-visual caption set in a cache folder and
train a small model from scratch on it (SentencePiece tokenizer, transformer decoder).

    python train.py --out runs/syn                         # from scratch, synthetic data
    python train.py --decoder lstm --out runs/syn-lstm     # the LSTM decoder instead
    python train.py --data subs/ --init default --out runs/ft --max-steps 20
    python train.py --out runs/syn --resume                # on from runs/syn/last
    torchrun --nproc_per_node 2 train.py --out runs/ddp    # DistributedDataParallel

The file reads top to bottom: TrainConfig holds every option (saved as JSON with each
checkpoint; --resume trains on with the saved one), then the phases main() runs in order:
start (processes, threads, seeds), data (examples), model (and tokenizer), clips (decoded;
a frozen trunk's features cached), optimizer (AdamW, warm-up then cosine), resume (OUT/last's
exact state), loop (accumulation -> clipping -> AdamW -> schedule), evaluation (greedy
captions scored with BLEU-4, CIDEr-D and exact match) and saving (OUT/best by CIDEr-D and
OUT/last, atomic, both loadable by caption.py --model). OUT/metrics.jsonl and
OUT/curves.png log the run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
import zlib
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

# Before PyTorch loads: OpenMP threads that spin while waiting make training steps much
# slower whenever anything else runs on the machine. (Inference keeps the default:
# app/__init__.py says why.)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from data import synthetic  # noqa: E402
from data.datasets import Clip, load_clips, read_dataset  # noqa: E402
from model.audio import SAMPLE_RATE, TIME_PRECISION, window_mel  # noqa: E402
from model.captioner import AVCaptioner  # noqa: E402
from model.checkpoint import load_model, save_checkpoint  # noqa: E402
from model.config import ModelConfig  # noqa: E402
from model.search import DecodingOptions, decode_windows  # noqa: E402
from model.sp_tokenizer import SentencePieceTokenizer  # noqa: E402

CACHE = Path(os.environ.get("AVSUB_CACHE", Path.home() / ".cache" / "avsub"))
IGNORE = -100  # target id that the loss skips
# --lr's default: a scratch transformer's, and every other run's (the LSTM, fine-tuning).
SCRATCH_TRANSFORMER_PEAK_LR, PEAK_LR = 1e-3, 2e-3
STATE_JSON, STATE_TENSORS = "train_state.json", "train_state.safetensors"

# =============================================================================== config


def option(default, help: str, **argparse_kwargs):
    """A TrainConfig field with its command-line help (and type or choices where needed)."""
    return field(default=default, metadata={"help": help, **argparse_kwargs})


@dataclass
class TrainConfig:
    """Every option of a training run; one command-line option per field (--max-steps for
    max_steps). Saved in OUT/{best,last}/train_state.json; --resume trains on with the
    saved config, taking only the SESSION_FIELDS from the command line."""

    # Data.
    data: str | None = option(None, "training set (default: synthetic)", type=str)
    val: str | None = option(None, "validation set (default: held out of --data)", type=str)
    synthetic_n: int = option(1600, "synthetic training clips")
    val_n: int = option(200, "synthetic validation clips")
    # Model.
    init: str = option("scratch", "scratch | default | CHECKPOINT folder")
    decoder: str = option(
        "transformer", "decoder of a scratch model", choices=("transformer", "lstm")
    )
    width: int = option(128, "model width (scratch)")
    layers: int = option(2, "encoder and decoder layers (scratch)")
    frame_backbone: str = option(
        "convnet",
        "frame trunk of a scratch model (convnet: small CNN trained end to end)",
        choices=("convnet", "resnet18", "resnet34", "resnet50"),
    )
    frame_weights: str = option("none", "none | imagenet | RESNET.safetensors")
    freeze: str = option(
        "auto",
        "trunk: frame trunk frozen (its features cached); speech: only the frame encoder's "
        "projection and the decoder's visual branch and gates train (Whisper fine-tuning, "
        "first stage); auto: speech for --init default, none for a scratch convnet, trunk "
        "otherwise (saved resolved)",
        choices=("auto", "none", "trunk", "speech"),
    )
    dropout: float = option(0.1, "dropout in the decoder (scratch)")
    # Optimisation.
    max_steps: int = option(1000, "optimiser steps (the schedule's length)")
    batch_size: int = option(32, "examples per optimiser step, all processes together")
    accum: int = option(1, "gradient accumulation micro-steps per optimiser step")
    lr: float | None = option(
        None,
        f"peak learning rate (default: {SCRATCH_TRANSFORMER_PEAK_LR:g} for a scratch transformer "
        f"decoder, which at {PEAK_LR:g} learnt colour and direction but not the shape; "
        f"{PEAK_LR:g} otherwise: the LSTM at {SCRATCH_TRANSFORMER_PEAK_LR:g} did not learn the "
        "direction; README, Training; saved resolved)",
        type=float,
    )
    weight_decay: float = option(0.01, "AdamW weight decay (not on biases, norms, gates)")
    warmup: int = option(100, "warm-up steps")
    label_smoothing: float = option(
        0.0,
        "0 by default: with 0.1 the slots learnt first kept sending the frame trunk most of "
        "its gradient (README, Training)",
    )
    clip_grad: float = option(1.0, "gradient norm clipped to this")
    modality_dropout: float = option(
        0.1,
        "chance that an example's audio is replaced by digital silence, and, apart, that its "
        "frames are blanked (black), so the model still describes what it can",
    )
    seed: int = option(0, "seeds the initialisation, data order, dropout and modality dropout")
    # Evaluation.
    eval_every: int = option(200, "validate (and save) every this many steps")
    # This session only: not part of the recipe, taken from the command line on --resume.
    out: str = option("runs/syn", "output folder: OUT/best, OUT/last, OUT/metrics.jsonl")
    resume: bool = option(False, "continue from OUT/last with its saved config")
    max_minutes: float | None = option(None, "stop (and save) after this", type=float)
    stop_after: int | None = option(
        None, "stop (and save OUT/last) after this step, schedule unchanged", type=int
    )
    threads: int | None = option(
        None,
        "torch CPU threads per process (default: the CPU cores shared out between the "
        "processes on this machine)",
        type=int,
    )

    def __post_init__(self) -> None:
        if self.batch_size % self.accum:
            raise ValueError("--batch-size must be a multiple of --accum")
        if self.lr is None:
            scratch_transformer = self.init == "scratch" and self.decoder == "transformer"
            self.lr = SCRATCH_TRANSFORMER_PEAK_LR if scratch_transformer else PEAK_LR
        if self.freeze == "auto":
            if self.init == "default":
                self.freeze = "speech"
            elif self.init == "scratch" and self.frame_backbone == "convnet":
                self.freeze = "none"
            else:
                self.freeze = "trunk"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {', '.join(unknown)}")
        return cls(**values)


SESSION_FIELDS = ("out", "resume", "max_minutes", "stop_after", "threads")


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """The command line -> TrainConfig; with --resume, OUT/last's saved config, where a
    recipe option given again must keep its saved value."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in fields(TrainConfig):
        kwargs = dict(f.metadata)
        if f.default is not None and not isinstance(f.default, bool):
            kwargs["help"] += f" (default: {f.default})"
        if isinstance(f.default, bool):
            kwargs["action"] = "store_true"
        else:
            kwargs.setdefault("type", type(f.default))
        parser.add_argument("--" + f.name.replace("_", "-"), default=argparse.SUPPRESS, **kwargs)
    given = vars(parser.parse_args(argv))
    try:
        if not given.get("resume"):
            return TrainConfig(**given)
        session = {f.name: given.get(f.name, f.default) for f in fields(TrainConfig)
                   if f.name in SESSION_FIELDS}  # fmt: skip
        saved = TrainConfig.from_dict(read_training_state(Path(session["out"]) / "last")["config"])
        recipe = {k: v for k, v in given.items() if k not in SESSION_FIELDS}
        changed = [k for k in recipe if getattr(replace(saved, **recipe), k) != getattr(saved, k)]
        if changed:
            names = ", ".join("--" + k.replace("_", "-") for k in changed)
            parser.error(f"--resume trains on with the saved config; {names} differ from it")
        return replace(saved, **session)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))


# ================================================================================ start


@dataclass
class Process:
    """Where this process runs: its rank among `world` processes, device and output."""

    rank: int
    world: int
    device: torch.device
    out: Path
    started: float  # time.monotonic() at start

    def log(self, line: str) -> None:
        if self.rank == 0:
            print(line, flush=True)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and torch's generators (CPU and every GPU) from one seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def start(config: TrainConfig) -> Process:
    """Join torchrun's process group when there is one, set the threads and seeds."""
    started = time.monotonic()
    rank, world = 0, 1
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
        processes_here = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // processes_here))
    if (config.batch_size // config.accum) % world:
        raise SystemExit("train.py: --batch-size / --accum must be a multiple of the world size")
    seed_everything(config.seed)
    process = Process(rank, world, device, Path(config.out), started)
    if rank == 0:
        process.out.mkdir(parents=True, exist_ok=True)
    process.barrier()
    return process


# ================================================================================= data


def synthetic_sets(n_train: int, n_val: int, process: Process) -> tuple[Path, Path]:
    """The default data: synthetic train (seed 1) and validation (seed 2) sets, cached.
    Seeds 3 and up are never used here: bench/ draws its test sets from them."""
    root = CACHE / "synthetic"
    v = synthetic.VERSION
    train, val = root / f"train-s1-n{n_train}-v{v}", root / f"val-s2-n{n_val}-v{v}"
    if process.rank == 0:
        synthetic.generate(train, n_train, seed=1)
        synthetic.generate(val, n_val, seed=2)
    process.barrier()
    return train, val


def split_examples(examples, val_fraction=0.05):
    """Hold out about val_fraction of the keys (by a stable hash) for validation."""
    held = {e.key for e in examples if zlib.crc32(e.key.encode()) % 1000 < val_fraction * 1000}
    if not held:
        held = {examples[-1].key}
    return [e for e in examples if e.key not in held], [e for e in examples if e.key in held]


def load_examples(config: TrainConfig, process: Process):
    """-> (training examples, validation examples): one caption over one span of one file."""
    if config.data is None:
        train_path, val_path = synthetic_sets(config.synthetic_n, config.val_n, process)
    else:
        train_path, val_path = Path(config.data), config.val and Path(config.val)
    train_examples, problems = read_dataset(train_path)
    if val_path:
        val_examples, more = read_dataset(val_path)
        problems += more
    else:
        train_examples, val_examples = split_examples(train_examples)
    for problem in problems:
        process.log(f"train.py: {problem}")
    return train_examples, val_examples


# ================================================================================ model


HEAD_WIDTH = 64  # attention heads of a scratch transformer: 2 at width 128
# With 2 heads of 64 the LSTM model never learnt the direction on seed 0 in 1000 steps;
# with 4 of 32 it had it by step 300 (README, Training).
LSTM_HEAD_WIDTH = 32


def head_count(width: int, head_width: int) -> int:
    """The most attention heads of at least head_width that split width evenly (>= 1)."""
    return next(n for n in range(max(1, width // head_width), 0, -1) if width % n == 0)


def scratch_config(
    decoder: str, n_vocab: int, width: int, layers: int, dropout: float, backbone: str = "convnet"
):
    """A small model for few-second clips: 3 s of audio (150 positions) plus an audio
    summary token (the encoder's output averaged over time: how much of each sound, such as
    how many beeps), 2 frames/s at 64 px through the frame trunk pooled to a 2 x 2 grid, one
    temporal block over frames, and a frame summary token (the trunk features max-pooled
    over the frames) for what the picture shows whenever it shows it, such as a shape.
    With the LSTM decoder, n_text_head (its additive attentions and the frame encoder's
    temporal attention) gets heads of LSTM_HEAD_WIDTH."""
    heads = head_count(width, HEAD_WIDTH)
    return ModelConfig(
        n_audio_ctx=150,
        n_audio_state=width,
        n_audio_head=heads,
        n_audio_layer=layers,
        audio_summary=True,
        n_vocab=n_vocab,
        n_text_ctx=64,
        n_text_state=width,
        n_text_head=heads if decoder == "transformer" else head_count(width, LSTM_HEAD_WIDTH),
        n_text_layer=layers,
        decoder=decoder,
        frame_backbone=backbone,
        frames_per_second=2.0,
        frame_size=64,
        frame_grid=2,
        n_frame_layer=1,
        frame_summary=True,
        dropout=dropout,
    )


def set_trainable(model: AVCaptioner, freeze: str) -> None:
    """none: all; trunk: all but the ResNet; speech: only the visual branch (frame projection,
    temporal blocks, the decoder's visual attention and gates)."""
    for name, param in model.named_parameters():
        if name.startswith("frame_encoder.trunk."):
            param.requires_grad = freeze == "none"
        elif freeze == "speech":
            param.requires_grad = name.startswith("frame_encoder.") or ".visual_" in name
        else:
            param.requires_grad = True


def build_model(config: TrainConfig, process: Process, train_examples):
    """-> (model on the device in training mode, tokenizer): from scratch (SentencePiece on
    the training captions), from Whisper or a checkpoint, or, resuming, from OUT/last."""
    if config.resume:
        loaded = load_model(str(process.out / "last"), "cpu")
        model, tokenizer = loaded.model, loaded.tokenizer
    elif config.init == "scratch":
        sp_path = process.out / "tokenizer.model"
        if process.rank == 0:
            SentencePieceTokenizer.train([e.text for e in train_examples], sp_path)
        process.barrier()
        tokenizer = SentencePieceTokenizer(sp_path)
        model_config = scratch_config(
            config.decoder,
            tokenizer.n_vocab,
            config.width,
            config.layers,
            config.dropout,
            config.frame_backbone,
        )
        model_config.suppress_ids = tokenizer.suppress_ids()
        model = AVCaptioner(model_config)
        # Scratch init: small tied embeddings (logits start near uniform); open gates.
        torch.nn.init.normal_(model.decoder.token_embedding.weight, std=0.02)
        for gate in model.decoder.visual_gates:  # from scratch the frames matter from step 0
            gate.data.fill_(1.0)
    else:
        loaded = load_model(config.init, "cpu")
        model, tokenizer = loaded.model, loaded.tokenizer
    if config.frame_weights != "none" and not config.resume:
        model.frame_encoder.load_trunk_weights(config.frame_weights)
    model.to(process.device).train()
    set_trainable(model, config.freeze)
    return model, tokenizer


# ================================================================================ clips


@dataclass
class ClipSet:
    """Decoded examples ready to batch: clips, each one's target ids (training) and what
    "no sound" and "no picture" look like to the model (for modality dropout)."""

    clips: list[Clip]
    targets: list[list[int]]  # caption ids + end of text, after the prompt
    prefix: list[int]  # the prompt every target follows
    cached: bool  # clip.frames hold trunk features (F, C), not pixels
    silent_mel: torch.Tensor  # (n_mels, audio_frames)
    black: torch.Tensor  # (1, S, S, 3) uint8 pixels, or (1, C) features when cached


def prompt_tokens(tokenizer) -> list[int]:
    """What every target starts with: [sot] (captioning) or Whisper's start sequence."""
    return tokenizer.sot_sequence("en" if tokenizer.multilingual else None, "transcribe", False)


def encode_target(tokenizer, text: str) -> list[int]:
    if tokenizer.kind == "whisper":
        text = " " + text  # Whisper's text tokens start with a space
    return tokenizer.encode(text) + [tokenizer.eot]


@torch.no_grad()
def cache_frame_features(model: AVCaptioner, clips: list[Clip], device, batch: int = 64):
    """Frozen trunk: each clip's frames (F, S, S, 3) -> features (F, C), computed once."""
    encoder = model.frame_encoder
    was_training = encoder.training
    encoder.eval()
    for clip in clips:
        feats = []
        for i in range(0, len(clip.frames), batch):
            feats.append(encoder.features(clip.frames[i : i + batch].to(device)).cpu())
        width = encoder.proj.in_features
        clip.frames = torch.cat(feats) if feats else torch.zeros(0, width)  # now (F, C)
    encoder.train(was_training)


@torch.no_grad()
def calibrate_random_trunk(model: AVCaptioner, clips: list[Clip], device, n: int = 384) -> None:
    """A randomly initialised, frozen ResNet: re-estimate its BatchNorm statistics on up to
    n training frames (cumulative average), so every layer's activations are normalised
    for this data instead of for the N(0, 1) defaults."""
    frames = torch.cat([c.frames for c in clips])[:n]  # (N, S, S, 3) uint8
    trunk = model.frame_encoder.trunk
    norms = [m for m in trunk.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average over the batches below
    trunk.train()
    for i in range(0, len(frames), 64):
        model.frame_encoder.features(frames[i : i + 64].to(device))
    trunk.eval()
    for norm in norms:
        norm.momentum = 0.1


@torch.no_grad()
def standardise_projection(model: AVCaptioner, clips: list[Clip]) -> None:
    """Fold the cached features' per-dimension mean and std into the frame projection, so
    visual tokens start from standardised features (a data-dependent initialisation)."""
    feats = torch.cat([c.frames for c in clips]).float()  # (N, C)
    mean, std = feats.mean(0), feats.std(0).clamp(min=1e-3)
    proj = model.frame_encoder.proj
    proj.weight.div_(std.to(proj.weight.device))
    proj.bias.sub_(proj.weight @ mean.to(proj.weight.device))


def prepare_clips(config: TrainConfig, process: Process, model, tokenizer, examples):
    """Decode the examples at the model's span and frame rate -> (training, validation)
    ClipSets; a frozen trunk's features are computed here once (after calibrating a
    random ResNet's normalisation and standardising the projection's input)."""
    model_config = model.config
    seconds = model_config.n_audio_ctx * TIME_PRECISION  # the model's audio span per clip
    mel_frames = 2 * model_config.n_audio_ctx

    def mel_fn(audio):  # exactly the pipeline's front end, cut to the model's span
        return window_mel(audio, model_config.n_mels)[:, :mel_frames].to(torch.float16)

    train_examples, val_examples = examples
    process.log(f"train.py: decoding {len(train_examples)} + {len(val_examples)} examples")
    fps, size = model_config.frames_per_second, model_config.frame_size
    train_clips, report = load_clips(train_examples, seconds, fps, size, mel_fn, process.log)
    val_clips, val_report = load_clips(val_examples, seconds, fps, size, mel_fn, process.log)
    process.log(f"train.py: train {report.summary()}; validation {val_report.summary()}")
    if not train_clips or not val_clips:
        raise SystemExit("train.py: no usable training or validation examples")
    cached = config.freeze in ("trunk", "speech")
    fresh_trunk = (
        config.init == "scratch"
        and config.frame_weights == "none"
        and not config.resume
        and model_config.frame_backbone.startswith("resnet")
    )
    if cached and fresh_trunk:
        calibrate_random_trunk(model, train_clips, process.device)
    if cached:
        cache_frame_features(model, train_clips + val_clips, process.device)
    if cached and fresh_trunk:
        standardise_projection(model, train_clips)
    silent_mel = mel_fn(torch.zeros(round(seconds * SAMPLE_RATE)))  # (n_mels, mel_frames)
    black = torch.zeros(1, size, size, 3, dtype=torch.uint8)
    if cached:
        with torch.no_grad():
            model.frame_encoder.eval()
            black = model.frame_encoder.features(black.to(process.device)).cpu()  # (1, C)
            model.frame_encoder.train()
    prefix = prompt_tokens(tokenizer)
    room = model_config.n_text_ctx - len(prefix)
    targets = [encode_target(tokenizer, c.text)[:room] for c in train_clips]
    train = ClipSet(train_clips, targets, prefix, cached, silent_mel, black)
    return train, ClipSet(val_clips, [], prefix, cached, silent_mel, black)


def collate(clips: list[Clip], targets: list[list[int]], prefix: list[int], device):
    """-> mel (B, n_mels, T), tokens (B, L), labels (B, L), frames (B, F, ...) or cached
    features (B, F, C), times (B, F), mask (B, F). Labels are IGNORE on the prompt and padding."""
    b = len(clips)
    mel = torch.stack([c.mel.float() for c in clips])
    seqs = [prefix + t for t in targets]
    length = max(len(s) for s in seqs) - 1
    tokens = torch.full((b, length), prefix[-1], dtype=torch.long)
    labels = torch.full((b, length), IGNORE, dtype=torch.long)
    for i, seq in enumerate(seqs):
        tokens[i, : len(seq) - 1] = torch.tensor(seq[:-1])
        labels[i, len(prefix) - 1 : len(seq) - 1] = torch.tensor(seq[len(prefix) :])
    n_frames = max(len(c.frames) for c in clips)
    frames = torch.zeros((b, n_frames, *clips[0].frames.shape[1:]), dtype=clips[0].frames.dtype)
    times = torch.zeros(b, n_frames)
    mask = torch.zeros(b, n_frames, dtype=torch.bool)
    for i, c in enumerate(clips):
        frames[i, : len(c.frames)], times[i, : len(c.frames)] = c.frames, c.times
        mask[i, : len(c.frames)] = True
    return tuple(t.to(device) for t in (mel, tokens, labels, frames, times, mask))


# ============================================================================ optimizer


def lr_lambda(warmup: int, total: int):
    """Linear warm-up to the peak, then cosine decay to 5% of it at `total` steps."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def build_optimizer(config: TrainConfig, model: AVCaptioner):
    """AdamW over the trainable parameters (no decay on biases, norms, gates) and its
    warm-up + cosine schedule -> (optimizer, scheduler, trainable parameters)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=(0.9, 0.98),
    )
    schedule = lr_lambda(config.warmup, config.max_steps)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule), params


# =============================================================================== resume


@dataclass
class Progress:
    step: int = 0  # optimiser steps taken
    best_cider: float = -1.0  # best validation CIDEr-D so far (OUT/best's)


def optimizer_tensors(optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """AdamW state as flat tensors (safetensors) plus its param groups (JSON)."""
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors, state["param_groups"]


def load_optimizer(optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def read_training_state(folder: Path) -> dict:
    """A checkpoint's train_state.json: step, best_cider, config, scheduler, param groups."""
    path = folder / STATE_JSON
    if not path.exists():
        raise FileNotFoundError(f"{path}: no training state to resume from")
    state = json.loads(path.read_text())
    if "config" not in state:
        raise ValueError(f"{path}: written before train.py saved its TrainConfig")
    return state


def restore(process: Process, optimizer, scheduler) -> Progress:
    """OUT/last's optimiser, schedule and random state: the run goes on as if never stopped."""
    folder = process.out / "last"
    state = read_training_state(folder)
    tensors = load_file(folder / STATE_TENSORS)
    moments = {k: v for k, v in tensors.items() if not k.startswith("rng.")}
    load_optimizer(optimizer, moments, state["param_groups"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    process.log(f"train.py: resumed at step {state['step']}")
    return Progress(state["step"], state["best_cider"])


# ================================================================================= loop


def step_indices(step: int, n_clips: int, batch_size: int, seed: int) -> list[int]:
    """The global batch of a step: positions step*B ... in a per-epoch permutation drawn
    from (seed, epoch) alone, so any world size or resume sees the same data."""
    picked = []
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch = position // n_clips
        generator = torch.Generator().manual_seed(seed * 100003 + epoch)
        picked.append(int(torch.randperm(n_clips, generator=generator)[position % n_clips]))
    return picked


def modality_drops(step: int, batch_size: int, chance: float, seed: int) -> torch.Tensor:
    """(2, batch_size) bool: which examples of the step's global batch lose their audio
    (row 0) and their frames (row 1), drawn from (seed, step) alone."""
    generator = torch.Generator().manual_seed(seed * 1000003 + step)
    return torch.rand(2, batch_size, generator=generator) < chance


def append_row(process: Process, row: dict) -> None:
    if process.rank == 0:
        with open(process.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")


def train_loop(
    config, process, model, tokenizer, train, val, optimizer, scheduler, params, progress
):
    """Optimiser steps until max_steps (or the session's limit), validating and saving every
    eval_every steps. Returns whether the session's limit stopped it."""
    ddp = model
    if process.world > 1:
        device_ids = [process.device.index] if process.device.type == "cuda" else None
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    use_amp = process.device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    rank, world = process.rank, process.world
    micro_batch = config.batch_size // config.accum  # examples per micro-step, all ranks
    loss_since_log, steps_since_log, last_log = 0.0, 0, time.monotonic()
    while progress.step < config.max_steps:
        indices = step_indices(progress.step, len(train.clips), config.batch_size, config.seed)
        step_target_tokens = sum(len(train.targets[i]) for i in indices)  # the loss's divisor
        drops = modality_drops(
            progress.step, config.batch_size, config.modality_dropout, config.seed
        )
        step_loss_sum = torch.zeros((), device=process.device)
        for micro in range(config.accum):
            picked = slice(micro * micro_batch, (micro + 1) * micro_batch)
            mine = indices[picked][rank::world]
            mel, tokens, labels, frames, times, mask = collate(
                [train.clips[i] for i in mine], [train.targets[i] for i in mine],
                train.prefix, process.device,
            )  # fmt: skip
            no_audio, no_frames = drops[:, picked][:, rank::world]
            mel[no_audio] = train.silent_mel.to(mel)
            frames[no_frames] = train.black.to(frames)
            sync = micro == config.accum - 1 or world == 1
            with ddp.no_sync() if not sync else nullcontext():
                with torch.autocast(process.device.type, dtype=amp_dtype, enabled=use_amp):
                    if train.cached:
                        logits = ddp(mel, tokens, frame_times=times, frame_mask=mask,
                                     frame_features=frames)  # fmt: skip
                    else:
                        logits = ddp(mel, tokens, frames, times, mask)  # (B, L, V)
                loss_sum = F.cross_entropy(
                    logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE,
                    label_smoothing=config.label_smoothing, reduction="sum",
                )  # fmt: skip
                # DDP averages gradients over ranks: scale so the result is the global mean.
                scaler.scale(loss_sum * world / step_target_tokens).backward()
            step_loss_sum += loss_sum.detach()
        if world > 1:
            dist.all_reduce(step_loss_sum)
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.clip_grad)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        progress.step += 1
        step_loss = float(step_loss_sum) / step_target_tokens
        lr = scheduler.get_last_lr()[0]
        append_row(process, {"kind": "train", "step": progress.step, "loss": step_loss, "lr": lr,
                             "grad_norm": float(grad_norm), "seconds": process.elapsed()})  # fmt: skip
        loss_since_log, steps_since_log = loss_since_log + step_loss, steps_since_log + 1
        if progress.step % 25 == 0 or time.monotonic() - last_log > 30:
            process.log(f"step {progress.step}: loss {loss_since_log / steps_since_log:.4f}, "
                        f"lr {lr:.2e}, {process.elapsed():.0f} s")  # fmt: skip
            loss_since_log, steps_since_log, last_log = 0.0, 0, time.monotonic()
        session_over = session_limit_reached(config, process, progress.step)
        due = progress.step % config.eval_every == 0 or progress.step == config.max_steps
        if due or session_over:
            if rank == 0:
                scores = evaluate(model, tokenizer, val, process)
                append_row(process, {"kind": "val", "step": progress.step, **scores})
                save(config, process, model, tokenizer, optimizer, scheduler, progress, scores)
            process.barrier()
        if session_over:
            process.log(f"train.py: stopped at step {progress.step} (--max-minutes / --stop-after)")
            return True
    return False


def session_limit_reached(config: TrainConfig, process: Process, step: int) -> bool:
    """--max-minutes or --stop-after reached (on any rank: every rank stops together)."""
    over = (config.stop_after is not None and step >= config.stop_after) or (
        config.max_minutes is not None and process.elapsed() > 60 * config.max_minutes
    )
    if process.world > 1:
        flag = torch.tensor([float(over)], device=process.device)
        dist.all_reduce(flag)
        over = bool(flag.item() > 0)
    return over


# =========================================================================== evaluation


def slot_accuracy(hyps: dict[str, str], refs: dict[str, list[str]]) -> dict[str, float]:
    """Per-slot accuracy (%) when every reference is in the synthetic grammar, else {}."""
    truths = {k: synthetic.parse_caption(r[0]) for k, r in refs.items()}
    if not truths or any(t is None for t in truths.values()):
        return {}
    parsed = {k: synthetic.parse_caption(hyps[k]) or {} for k in refs}
    return {
        slot: 100.0 * sum(parsed[k].get(slot) == truths[k][slot] for k in refs) / len(refs)
        for slot in synthetic.SLOTS
    }


@torch.no_grad()
def validate(model, tokenizer, clips, prefix, cached: bool, device, batch: int = 64):
    """Greedy captions of the validation clips -> (scores, captions by key): BLEU-4 and
    CIDEr-D (0-100), exact match (%) and, on the synthetic set, each slot's accuracy (%)."""
    from evaluation.caption_metrics import score_caption_sets

    was_training = model.training
    model.eval()
    options = DecodingOptions(beam_size=1, without_timestamps=True, sample_len=48)
    hyps: dict[str, str] = {}
    refs: dict[str, list[str]] = {}
    for clip in clips:
        refs.setdefault(clip.key, []).append(clip.text)
    unique = list({c.key: c for c in clips}.values())
    for i in range(0, len(unique), batch):
        part = unique[i : i + batch]
        mel, _, _, frames, times, mask = collate(part, [[]] * len(part), prefix, device)
        if cached:
            cross = model.encode_features(mel, frames, times, mask)
        else:
            cross = model.encode(mel, frames, times, mask)
        results = decode_windows(model, tokenizer, cross, prefix, [[]] * len(part), options, 0.0)
        for clip, result in zip(part, results, strict=True):
            hyps[clip.key] = result.text
    model.train(was_training)
    scores = score_caption_sets(hyps, refs, metrics=["bleu4", "cider"], use_java=False)
    exact = 100.0 * sum(hyps[k].strip() in refs[k] for k in refs) / len(refs)
    slots = slot_accuracy(hyps, refs)
    return {"bleu4": scores["bleu4"], "cider": scores["cider"], "exact": exact, **slots}, hyps


def evaluate(model, tokenizer, val: ClipSet, process: Process) -> dict[str, float]:
    scores, hyps = validate(model, tokenizer, val.clips, val.prefix, val.cached, process.device)
    slots = ", ".join(f"{s} {scores[s]:.0f}" for s in synthetic.SLOTS if s in scores)
    process.log(f"validation: BLEU-4 {scores['bleu4']:.1f}, CIDEr-D {scores['cider']:.1f}, "
                f"exact {scores['exact']:.1f}%" + (f" ({slots})" if slots else "")
                + f"; e.g. {next(iter(hyps.values()))!r}")  # fmt: skip
    return scores


# =============================================================================== saving


def save_training(out: Path, name: str, model, tokenizer, optimizer, scheduler, info: dict):
    """OUT/name: a caption.py-loadable checkpoint plus the exact training state: optimiser
    moments and random state (safetensors), info, schedule and param groups (JSON)."""
    tensors, groups = optimizer_tensors(optimizer)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    state = {**info, "scheduler": scheduler.state_dict(), "param_groups": groups}
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        save_file(tensors, Path(tmp) / STATE_TENSORS)
        (Path(tmp) / STATE_JSON).write_text(json.dumps(state, indent=1))
        extra = {n: Path(tmp) / n for n in (STATE_TENSORS, STATE_JSON)}
        save_checkpoint(model, tokenizer, out / name, extra=extra)


def save(config, process, model, tokenizer, optimizer, scheduler, progress, scores) -> None:
    """OUT/best when CIDEr-D improved, OUT/last always, then OUT/curves.png."""
    improved = scores["cider"] > progress.best_cider
    progress.best_cider = max(progress.best_cider, scores["cider"])
    info = {"step": progress.step, "best_cider": progress.best_cider, "config": config.to_dict()}
    if improved:
        save_training(process.out, "best", model, tokenizer, optimizer, scheduler, info)
    save_training(process.out, "last", model, tokenizer, optimizer, scheduler, info)
    write_curves(process.out)


def write_curves(out: Path) -> None:
    """OUT/curves.png: training loss and validation scores against steps (matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("train.py: matplotlib is not installed; no curves.png", file=sys.stderr)
        return
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "val"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot([r["step"] for r in train], [r["loss"] for r in train])
    left.set(xlabel="step", ylabel="training loss", yscale="log")
    for key in ("bleu4", "cider", "exact", *synthetic.SLOTS):
        if val and key in val[-1]:
            style = "o-" if key in ("bleu4", "cider", "exact") else ":"
            right.plot([r["step"] for r in val], [r[key] for r in val], style, label=key)
    right.set(xlabel="step", ylabel="validation: BLEU-4, CIDEr-D (x100), exact and slots (%)")
    right.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)


# ================================================================================= main


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    process = start(config)
    examples = load_examples(config, process)
    model, tokenizer = build_model(config, process, examples[0])
    train, val = prepare_clips(config, process, model, tokenizer, examples)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    process.log(f"train.py: {n_trainable:,} trainable parameters, {len(train.clips)} clips, "
                f"{process.elapsed():.0f} s of setup")  # fmt: skip
    optimizer, scheduler, params = build_optimizer(config, model)
    if config.resume:
        progress = restore(process, optimizer, scheduler)
    else:
        progress = Progress()
        if process.rank == 0:
            (process.out / "metrics.jsonl").write_text("")
    stopped = train_loop(config, process, model, tokenizer, train, val, optimizer, scheduler,
                         params, progress)  # fmt: skip
    process.log(f"train.py: done, {progress.step} steps in {process.elapsed():.0f} s; best "
                f"CIDEr-D {progress.best_cider:.1f}" + (" (stopped early)" if stopped else ""))  # fmt: skip
    if process.world > 1:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
