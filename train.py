"""Train or fine-tune an AVCaptioner: python train.py [options], or torchrun ... train.py.

With no arguments: build the synthetic audio-visual caption set in a cache folder and
train a small model from scratch on it (SentencePiece tokenizer, transformer decoder).

    python train.py --out runs/syn                         # from scratch, synthetic data
    python train.py --decoder lstm --out runs/syn-lstm     # the LSTM decoder instead
    python train.py --data subs/ --init default --out runs/ft --max-steps 20
    torchrun --nproc_per_node 2 train.py --out runs/ddp    # DistributedDataParallel

The loop below reads top to bottom: data, model, optimiser, then for every step
gradient accumulation -> clipping -> AdamW -> warm-up/cosine schedule, with greedy
validation (BLEU-4, CIDEr-D) every --eval-every steps and atomic checkpoints:
OUT/last (exact resume: optimiser, schedule and RNG state) and OUT/best (by CIDEr-D),
both loadable by caption.py --model. OUT/metrics.jsonl and OUT/curves.png log the run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

# Before PyTorch loads: OpenMP threads that spin while waiting make training steps much
# slower whenever anything else runs on the machine. (Inference keeps the default:
# app/__init__.py says why.)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from data import synthetic
from data.datasets import Clip, load_clips, read_dataset
from model.audio import SAMPLE_RATE, TIME_PRECISION, window_mel
from model.captioner import AVCaptioner
from model.checkpoint import load_model, save_checkpoint
from model.config import ModelConfig
from model.search import DecodingOptions, decode_windows
from model.sp_tokenizer import SentencePieceTokenizer

CACHE = Path(os.environ.get("AVSUB_CACHE", Path.home() / ".cache" / "avsub"))
IGNORE = -100  # target id that the loss skips


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="training set (default: synthetic)")
    p.add_argument("--val", type=Path, default=None, help="validation set (default: held out)")
    p.add_argument("--synthetic-n", type=int, default=1600, help="synthetic training clips")
    p.add_argument("--init", default="scratch", help="scratch | default | CHECKPOINT folder")
    p.add_argument("--decoder", choices=("transformer", "lstm"), default="transformer")
    p.add_argument("--width", type=int, default=128, help="model width (scratch)")
    p.add_argument("--layers", type=int, default=2, help="encoder/decoder layers (scratch)")
    p.add_argument(
        "--frame-backbone",
        choices=("convnet", "resnet18", "resnet34", "resnet50"),
        default="convnet",
        help="frame trunk of a scratch model (convnet: small CNN trained end to end)",
    )
    p.add_argument("--frame-weights", default="none", help="none | imagenet | RESNET.safetensors")
    p.add_argument(
        "--freeze",
        choices=("auto", "none", "trunk", "speech"),
        default="auto",
        help="trunk: frame trunk frozen (its features cached); speech: only the frame "
        "encoder's projection and the decoder's visual branch and gates train (Whisper "
        "fine-tuning, first stage); auto: speech for --init default, none for a scratch "
        "convnet, trunk otherwise",
    )
    p.add_argument("--out", type=Path, default=Path("runs/syn"))
    p.add_argument("--resume", action="store_true", help="continue from OUT/last")
    p.add_argument(
        "--max-steps",
        type=int,
        default=1000,
        help="optimiser steps (the schedule's length); 1000 by default: the synthetic set's "
        "shape slot is learnt late (README, Training)",
    )
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this")
    p.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop (and save OUT/last) after this step, schedule unchanged (then --resume)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="examples per optimiser step, global")
    p.add_argument("--accum", type=int, default=1, help="gradient accumulation micro-steps")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=100, help="warm-up steps")
    p.add_argument(
        "--label-smoothing",
        type=float,
        default=0.0,
        help="0 by default: with 0.1 the slots learnt first (colour, direction) keep sending "
        "the frame trunk gradients that drown the shape slot's (README, Training)",
    )
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--clip-grad", type=float, default=1.0)
    p.add_argument(
        "--modality-dropout",
        type=float,
        default=0.1,
        help="chance that an example's audio is replaced by digital silence, and, apart, "
        "that its frames are blanked (black), so the model still describes what it can",
    )
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--val-n", type=int, default=200, help="validation clips (synthetic)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads per process (default: the CPU cores shared out between the "
        "processes on this machine)",
    )
    args = p.parse_args(argv)
    if args.batch_size % args.accum:
        p.error("--batch-size must be a multiple of --accum")
    if args.freeze == "auto":
        if args.init == "default":
            args.freeze = "speech"
        elif args.init == "scratch" and args.frame_backbone == "convnet":
            args.freeze = "none"
        else:
            args.freeze = "trunk"
    return args


# ----------------------------------------------------------------------------- setup


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); torchrun sets the environment that turns DDP on."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def scratch_config(
    decoder: str, n_vocab: int, width: int, layers: int, dropout: float, backbone: str = "convnet"
):
    """A small model for few-second clips: 3 s of audio (150 positions), 2 frames/s at
    64 px through the frame trunk pooled to a 2 x 2 grid, one temporal block over frames,
    and a summary token (the trunk features max-pooled over the frames) for what the
    picture shows whenever it shows it, such as an object's shape."""
    heads = max(1, width // 64)
    return ModelConfig(
        n_audio_ctx=150,
        n_audio_state=width,
        n_audio_head=heads,
        n_audio_layer=layers,
        n_vocab=n_vocab,
        n_text_ctx=64,
        n_text_state=width,
        n_text_head=heads,
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


def synthetic_sets(n_train: int, n_val: int, rank: int, world: int) -> tuple[Path, Path]:
    """The default data: synthetic train (seed 1) and validation (seed 2) sets, cached.
    Seeds 3 and up are never used here: bench/ draws its test sets from them."""
    root = CACHE / "synthetic"
    v = synthetic.VERSION
    train, val = root / f"train-s1-n{n_train}-v{v}", root / f"val-s2-n{n_val}-v{v}"
    if rank == 0:
        synthetic.generate(train, n_train, seed=1)
        synthetic.generate(val, n_val, seed=2)
    barrier(world)
    return train, val


def split_examples(examples, val_fraction=0.05):
    """Hold out about val_fraction of the keys (by a stable hash) for validation."""
    import zlib

    held = {e.key for e in examples if zlib.crc32(e.key.encode()) % 1000 < val_fraction * 1000}
    if not held:
        held = {examples[-1].key}
    return [e for e in examples if e.key not in held], [e for e in examples if e.key in held]


def prompt_tokens(tokenizer) -> list[int]:
    """What every target starts with: [sot] (captioning) or Whisper's start sequence."""
    return tokenizer.sot_sequence("en" if tokenizer.multilingual else None, "transcribe", False)


def encode_target(tokenizer, text: str) -> list[int]:
    if tokenizer.kind == "whisper":
        text = " " + text  # Whisper's text tokens start with a space
    return tokenizer.encode(text) + [tokenizer.eot]


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
    move = [t.to(device) for t in (mel, tokens, labels, frames, times, mask)]
    return tuple(move)


def lr_lambda(warmup: int, total: int):
    """Linear warm-up to the peak, then cosine decay to 5% of it at `total` steps."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


@torch.no_grad()
def validate(model, tokenizer, clips, prefix, cached: bool, device, batch: int = 64):
    """Greedy captions of the validation clips, scored with BLEU-4 and CIDEr-D (0-100)."""
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
    exact = sum(hyps[k].strip() in refs[k] for k in refs) / len(refs)
    return {"bleu4": scores["bleu4"], "cider": scores["cider"], "exact": 100.0 * exact}, hyps


# ------------------------------------------------------------------------ checkpoints


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


def save_training(out: Path, name: str, model, tokenizer, optimizer, scheduler, info: dict):
    """OUT/name: a caption.py-loadable checkpoint plus the exact training state."""
    tensors, groups = optimizer_tensors(optimizer)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    state = {"scheduler": scheduler.state_dict(), "param_groups": groups, **info}
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        save_file(tensors, Path(tmp) / "train_state.safetensors")
        (Path(tmp) / "train_state.json").write_text(json.dumps(state, indent=1))
        extra = {n: Path(tmp) / n for n in ("train_state.safetensors", "train_state.json")}
        save_checkpoint(model, tokenizer, out / name, extra=extra)


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
    left.set(xlabel="step", ylabel="training loss (label-smoothed)", yscale="log")
    for key in ("bleu4", "cider", "exact"):
        right.plot([r["step"] for r in val], [r[key] for r in val], marker="o", label=key)
    right.set(xlabel="step", ylabel="validation: BLEU-4, exact match (%), CIDEr-D (x100)")
    right.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rank, world, device = setup_distributed()
    if device.type == "cpu":
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // local))
    micro = args.batch_size // args.accum  # examples per micro-step, all ranks together
    if micro % world:
        raise SystemExit("train.py: --batch-size / --accum must be a multiple of the world size")
    log = partial(print, flush=True) if rank == 0 else (lambda *a, **k: None)
    out = args.out
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    barrier(world)
    started = time.monotonic()

    # Data: examples (one caption over one span of one file).
    if args.data is None:
        train_path, val_path = synthetic_sets(args.synthetic_n, args.val_n, rank, world)
    else:
        train_path, val_path = args.data, args.val
    train_examples, problems = read_dataset(train_path)
    if val_path is not None:
        val_examples, more = read_dataset(val_path)
        problems += more
    else:
        train_examples, val_examples = split_examples(train_examples)
    for problem in problems:
        log(f"train.py: {problem}")

    # Model and tokenizer: scratch (SentencePiece on the training captions), Whisper, or a
    # checkpoint; --resume takes everything from OUT/last.
    torch.manual_seed(args.seed)  # new parts (a frame encoder beside Whisper) start the same
    if args.resume:
        loaded = load_model(str(out / "last"), "cpu")
        model, tokenizer = loaded.model, loaded.tokenizer
    elif args.init == "scratch":
        sp_path = out / "tokenizer.model"
        if rank == 0:
            SentencePieceTokenizer.train([e.text for e in train_examples], sp_path)
        barrier(world)
        tokenizer = SentencePieceTokenizer(sp_path)
        config = scratch_config(
            args.decoder,
            tokenizer.n_vocab,
            args.width,
            args.layers,
            args.dropout,
            args.frame_backbone,
        )
        config.suppress_ids = tokenizer.suppress_ids()
        model = AVCaptioner(config)
        # Scratch init: small tied embeddings (logits start near uniform); open gates.
        torch.nn.init.normal_(model.decoder.token_embedding.weight, std=0.02)
        for gate in model.decoder.visual_gates:  # from scratch the frames matter from step 0
            gate.data.fill_(1.0)
        if args.frame_weights != "none":
            model.frame_encoder.load_trunk_weights(args.frame_weights)
    else:
        loaded = load_model(args.init, "cpu")
        model, tokenizer = loaded.model, loaded.tokenizer
        if args.frame_weights != "none":
            model.frame_encoder.load_trunk_weights(args.frame_weights)
    config = model.config
    model.to(device).train()
    set_trainable(model, args.freeze)
    cached = args.freeze in ("trunk", "speech")

    seconds = config.n_audio_ctx * TIME_PRECISION  # the model's audio span per clip
    audio_frames = 2 * config.n_audio_ctx

    def mel_fn(audio):  # exactly the pipeline's front end, cut to the model's span
        return window_mel(audio, config.n_mels)[:, :audio_frames].to(torch.float16)

    log(f"train.py: decoding {len(train_examples)} + {len(val_examples)} examples")
    train_clips, report = load_clips(
        train_examples, seconds, config.frames_per_second, config.frame_size, mel_fn, log
    )
    val_clips, val_report = load_clips(
        val_examples, seconds, config.frames_per_second, config.frame_size, mel_fn, log
    )
    log(f"train.py: train {report.summary()}; validation {val_report.summary()}")
    if not train_clips or not val_clips:
        raise SystemExit("train.py: no usable training or validation examples")
    fresh_trunk = (
        args.init == "scratch"
        and args.frame_weights == "none"
        and not args.resume
        and config.frame_backbone.startswith("resnet")
    )
    if cached and fresh_trunk:
        calibrate_random_trunk(model, train_clips, device)
    if cached:
        cache_frame_features(model, train_clips + val_clips, device)
    if cached and fresh_trunk:
        standardise_projection(model, train_clips)
    # What "no sound" and "no picture" look like to the model, for modality dropout.
    silent_mel = mel_fn(torch.zeros(round(seconds * SAMPLE_RATE)))  # (n_mels, audio_frames)
    black = torch.zeros(1, config.frame_size, config.frame_size, 3, dtype=torch.uint8)
    if cached:
        with torch.no_grad():
            model.frame_encoder.eval()
            black = model.frame_encoder.features(black.to(device)).cpu()  # (1, C)
            model.frame_encoder.train()
    prefix = prompt_tokens(tokenizer)
    targets = [
        encode_target(tokenizer, c.text)[: config.n_text_ctx - len(prefix)] for c in train_clips
    ]
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"train.py: {n_trainable:,} trainable parameters, {len(train_clips)} clips, "
        f"{time.monotonic() - started:.0f} s of setup")  # fmt: skip

    # Optimiser and schedule: AdamW (no decay on biases, norms, gates), warm-up + cosine.
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": args.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=args.lr,
        betas=(0.9, 0.98),
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(args.warmup, args.max_steps))
    step, best = 0, -1.0
    if args.resume:
        state = json.loads((out / "last" / "train_state.json").read_text())
        tensors = load_file(out / "last" / "train_state.safetensors")
        load_optimizer(
            optimizer,
            {k: v for k, v in tensors.items() if not k.startswith("rng.")},
            state["param_groups"],
        )
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        step, best = state["step"], state["best"]
        log(f"train.py: resumed at step {step}")
    elif rank == 0:
        (out / "metrics.jsonl").write_text("")

    ddp = model
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    use_amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    def step_indices(step: int) -> list[int]:
        """The global batch of a step: positions step*B ... in a per-epoch permutation
        drawn from (seed, epoch) alone, so any world size or resume sees the same data."""
        n, b = len(train_clips), args.batch_size
        picked = []
        for position in range(step * b, (step + 1) * b):
            epoch = position // n
            order = torch.randperm(
                n, generator=torch.Generator().manual_seed(args.seed * 100003 + epoch)
            )
            picked.append(int(order[position % n]))
        return picked

    def log_row(row: dict) -> None:
        if rank == 0:
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    # The loop.
    window_loss, window_tokens, last_log = 0.0, 0, time.monotonic()
    stopped_early = False
    while step < args.max_steps:
        indices = step_indices(step)
        total_tokens = sum(len(targets[i]) for i in indices)  # normaliser of the whole step
        step_loss = torch.zeros((), device=device)
        for m in range(args.accum):
            part = indices[m * micro : (m + 1) * micro][rank::world]
            mel, tokens, labels, frames, times, mask = collate(
                [train_clips[i] for i in part], [targets[i] for i in part], prefix, device
            )
            # Modality dropout, drawn per global step (the same for any world size).
            draw = torch.rand(
                2,
                args.batch_size,
                generator=torch.Generator().manual_seed(args.seed * 1000003 + step),
            )
            drop = (draw < args.modality_dropout)[:, m * micro : (m + 1) * micro][:, rank::world]
            mel[drop[0]] = silent_mel.to(mel)
            frames[drop[1]] = black.to(frames)
            sync = m == args.accum - 1 or world == 1
            with ddp.no_sync() if not sync else nullcontext():
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    if cached:
                        logits = ddp(
                            mel, tokens, frame_times=times, frame_mask=mask, frame_features=frames
                        )
                    else:
                        logits = ddp(mel, tokens, frames, times, mask)
                loss_sum = F.cross_entropy(
                    logits.flatten(0, 1).float(), labels.flatten(),
                    ignore_index=IGNORE, label_smoothing=args.label_smoothing, reduction="sum",
                )  # fmt: skip
                # DDP averages gradients over ranks: scale so the result is the global mean.
                scaler.scale(loss_sum * world / total_tokens).backward()
            step_loss += loss_sum.detach()
        if world > 1:
            dist.all_reduce(step_loss)
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, args.clip_grad)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        step += 1
        loss = float(step_loss) / total_tokens
        window_loss, window_tokens = window_loss + loss, window_tokens + 1
        log_row({"kind": "train", "step": step, "loss": loss, "lr": scheduler.get_last_lr()[0],
                 "grad_norm": float(grad_norm), "seconds": time.monotonic() - started})  # fmt: skip
        if rank == 0 and (step % 25 == 0 or time.monotonic() - last_log > 30):
            log(f"step {step}: loss {window_loss / window_tokens:.4f}, "
                f"lr {scheduler.get_last_lr()[0]:.2e}, {time.monotonic() - started:.0f} s")  # fmt: skip
            window_loss, window_tokens, last_log = 0.0, 0, time.monotonic()
        out_of_time = (
            args.max_minutes is not None and time.monotonic() - started > 60 * args.max_minutes
        ) or (args.stop_after is not None and step >= args.stop_after)
        if world > 1:  # every rank must stop together
            flag = torch.tensor([float(out_of_time)], device=device)
            dist.all_reduce(flag)
            out_of_time = bool(flag.item() > 0)
        if step % args.eval_every == 0 or step == args.max_steps or out_of_time:
            if rank == 0:
                scores, hyps = validate(model, tokenizer, val_clips, prefix, cached, device)
                log(f"step {step}: validation BLEU-4 {scores['bleu4']:.1f}, CIDEr-D "
                    f"{scores['cider']:.1f}, exact {scores['exact']:.1f}%; e.g. {next(iter(hyps.values()))!r}")  # fmt: skip
                log_row({"kind": "val", "step": step, **scores})
                info = {"step": step, "best": max(best, scores["cider"]), "args": vars(args) | {"data": str(args.data), "val": str(args.val), "out": str(args.out)}}  # fmt: skip
                if scores["cider"] > best:
                    best = scores["cider"]
                    save_training(out, "best", model, tokenizer, optimizer, scheduler, info)
                save_training(out, "last", model, tokenizer, optimizer, scheduler, info)
                write_curves(out)
            barrier(world)
        if out_of_time:
            log(f"train.py: stopped at step {step} (--max-minutes / --stop-after)")
            stopped_early = True
            break
    log(f"train.py: done, {step} steps in {time.monotonic() - started:.0f} s; best CIDEr-D {best:.1f}"
        + (" (stopped by --max-minutes)" if stopped_early else ""))  # fmt: skip
    if world > 1:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
