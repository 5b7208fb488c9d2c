"""Picture-only probe: how many steps the synthetic set's shape takes to learn, and why.

    python bench/shape_probe.py --reader query|decoder [--lr 2e-3] [--frames-lr-scale 1]
        [--reader-lr-scale 1] [--layers 2] [--constant-query] [--seeds 0 1] [--steps 300]

The FrameEncoder of train.py's scratch model (convnet trunk, 2 x 2 grid, one temporal
block, frame summary token; 6 frames of 64 px per clip) is trained on the visual half of
the synthetic caption by one of two readers:
- query: three learned queries (colour, shape, direction) attend to the visual tokens, each
  followed by a linear layer over its slot's values (the three losses summed);
- decoder: the captioner's TextDecoder (width 128, 2 heads, --layers layers, gates open,
  tied embeddings, the audio one zero token) teacher-forced on "<sot> a COLOUR SHAPE moves
  DIRECTION <eot>"; --constant-query feeds a fixed token where the colour word would be,
  so the shape's query no longer depends on the colour.
Both use train.py's optimiser (AdamW, betas 0.9/0.98, decay 0.01, 100 warm-up steps, then
the peak rate, batch 32, clipping at 1, two threads); --lr defaults to train.py's former
peak, 2e-3 (its default is now 1e-3, because of what this probe showed), and the
--*-lr-scale options give the frame encoder or the reader (queries or decoder) a fraction
of the peak. Prints each slot's validation accuracy (%) on the validation set (seed 2)
every 50 steps. The decoded frames are cached in
AVSUB_CACHE/probe-frames.safetensors (the sets themselves: train.py's cache).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.count_probe import optimiser_step, probe_sets  # noqa: E402
from data import synthetic  # noqa: E402
from model.decoder import TextDecoder  # noqa: E402
from model.frames import FrameEncoder  # noqa: E402

SLOTS = synthetic.VISUAL_SLOTS
VALUES = {"color": list(synthetic.COLORS), "shape": list(synthetic.SHAPES),
          "direction": list(synthetic.DIRECTIONS)}  # fmt: skip
WORDS = ["<sot>", "<eot>", "a", "moves", *(w for s in SLOTS for w in VALUES[s])]
FIRST_VALUE = {s: WORDS.index(VALUES[s][0]) for s in SLOTS}  # each slot's first word id
POSITION = {"color": 1, "shape": 2, "direction": 4}  # where the decoder predicts each slot


def load_frames() -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """{"train" | "val": (frames (N, 6, 64, 64, 3) uint8, times (N, 6), labels (N, 3))}."""

    def tensors(clips) -> dict[str, torch.Tensor]:
        labels = []
        for clip in clips:
            slots = synthetic.parse_caption(clip.text)
            labels.append([VALUES[s].index(slots[s]) for s in SLOTS])
        return {"frames": torch.stack([c.frames for c in clips]),
                "times": torch.stack([c.times for c in clips]), "labels": torch.tensor(labels)}  # fmt: skip

    sets = probe_sets("probe-frames.safetensors", tensors)
    return {name: (d["frames"], d["times"], d["labels"]) for name, d in sets.items()}


def new_frame_encoder(width: int) -> FrameEncoder:
    """The frame encoder of train.py's scratch_config."""
    return FrameEncoder("convnet", width, grid=2, n_layer=1, n_head=2, summary=True)


class QueryReader(nn.Module):
    def __init__(self, width: int = 128):
        super().__init__()
        self.frames = new_frame_encoder(width)
        self.queries = nn.Parameter(torch.randn(1, len(SLOTS), width) * 0.02)
        self.attn = nn.MultiheadAttention(width, 2, batch_first=True)
        self.ln = nn.LayerNorm(width)
        self.heads = nn.ModuleList(nn.Linear(width, len(VALUES[s])) for s in SLOTS)

    def loss_and_logits(self, frames, times, labels) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """frames (B, F, 64, 64, 3) uint8, times (B, F), labels (B, 3) -> the summed
        loss and each slot's logits (B, values)."""
        x = self.frames(frames, times)  # (B, F + 1, D)
        q = self.queries.expand(len(x), -1, -1)  # (B, 3, D)
        y = self.ln(self.attn(q, x, x)[0] + q)  # (B, 3, D)
        logits = [head(y[:, i]) for i, head in enumerate(self.heads)]
        return sum(F.cross_entropy(lg, labels[:, i]) for i, lg in enumerate(logits)), logits


class DecoderReader(nn.Module):
    def __init__(self, layers: int, constant_query: bool, width: int = 128):
        super().__init__()
        self.frames = new_frame_encoder(width)
        self.decoder = TextDecoder(len(WORDS), 8, width, 2, layers, 0.0)
        nn.init.normal_(self.decoder.token_embedding.weight, std=0.02)  # as train.py
        for gate in self.decoder.visual_gates:
            gate.data.fill_(1.0)
        self.constant_query = constant_query

    def loss_and_logits(self, frames, times, labels) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """As QueryReader's: the loss over every caption token, each slot's logits over its
        own values at its position."""
        ids = torch.stack([labels[:, i] + FIRST_VALUE[s] for i, s in enumerate(SLOTS)], 1)
        fixed = {w: torch.full_like(ids[:, 0], WORDS.index(w)) for w in WORDS[:4]}
        caption = torch.stack(
            [
                fixed["<sot>"],
                fixed["a"],
                ids[:, 0],
                ids[:, 1],
                fixed["moves"],
                ids[:, 2],
                fixed["<eot>"],
            ],
            1,
        )  # (B, 7)
        inputs = caption[:, :-1].clone()  # fmt: skip
        if self.constant_query:
            inputs[:, POSITION["shape"]] = WORDS.index("moves")
        visual = self.frames(frames, times)  # (B, F + 1, D)
        audio = visual.new_zeros(len(ids), 1, visual.shape[-1])  # (B, 1, D)
        logits, _ = self.decoder(inputs, self.decoder.cross_cache(audio, visual, None))
        loss = F.cross_entropy(logits.flatten(0, 1), caption[:, 1:].flatten())  # (B * 6, V)
        slots = [logits[:, POSITION[s], FIRST_VALUE[s] : FIRST_VALUE[s] + len(VALUES[s])]
                 for s in SLOTS]  # fmt: skip
        return loss, slots


def run(data, args, seed: int) -> list[list[int]]:
    """Each slot's validation accuracy (%) every 50 steps."""
    torch.manual_seed(seed)
    if args.reader == "query":
        model = QueryReader()
    else:
        model = DecoderReader(args.layers, args.constant_query)
    reader = [p for name, p in model.named_parameters() if not name.startswith("frames.")]
    groups = [{"params": list(model.frames.parameters()), "scale": args.frames_lr_scale},
              {"params": reader, "scale": args.reader_lr_scale}]  # fmt: skip
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    (frames, times, labels), (val_frames, val_times, val_labels) = data["train"], data["val"]
    generator = torch.Generator().manual_seed(seed)
    curve = []
    for step in range(1, args.steps + 1):
        batch = torch.randint(len(labels), (32,), generator=generator)
        loss, _ = model.loss_and_logits(frames[batch], times[batch], labels[batch])
        optimiser_step(model, optimizer, loss, args.lr, step)
        if step % 50 == 0:
            model.eval()
            with torch.no_grad():
                _, logits = model.loss_and_logits(val_frames, val_times, val_labels)
            model.train()
            curve.append([round(100 * (lg.argmax(-1) == val_labels[:, i]).float().mean().item())
                          for i, lg in enumerate(logits)])  # fmt: skip
            scores = zip(SLOTS, curve[-1], strict=True)
            print(f"  step {step}: " + ", ".join(f"{s} {a}" for s, a in scores), flush=True)
    return curve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", choices=("query", "decoder"), default="decoder")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--frames-lr-scale", type=float, default=1.0)
    parser.add_argument("--reader-lr-scale", type=float, default=1.0)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--constant-query", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_frames()
    started = time.monotonic()
    for seed in args.seeds:
        curve = run(data, args, seed)
        print(f"seed {seed}: shape every 50 steps {[c[1] for c in curve]}", flush=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"wall {time.monotonic() - started:.0f} s, CPU {usage.ru_utime + usage.ru_stime:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
