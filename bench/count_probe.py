"""Audio-only probe: how many steps the synthetic set's beep count takes to learn.

    python bench/count_probe.py VARIANT SEEDS [STEPS]     # e.g. base 0,1 600; summary 0,1 600

The AudioEncoder of train.py's scratch model (width 128, 2 layers, 2 heads, 150 positions)
read by one learned query through multi-head attention, as a decoder token reads the audio,
then a linear layer over the three counts; "summary" also gives the query the encoder's
output averaged over time (projected and normalised), as ModelConfig.audio_summary does.
Trained on the synthetic training set (seed 1) with train.py's optimiser settings (AdamW
at 2e-3, 100 warm-up steps, batch 32, clipping at 1, one thread; 2e-3 was train.py's peak
for every run when this was measured); prints the count accuracy (%) on the validation set
(seed 2) every 50 steps, and wall and CPU seconds. The decoded
log-mels are cached in AVSUB_CACHE/probe-mels.safetensors (the sets themselves: train.py's cache).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from data import synthetic  # noqa: E402
from data.datasets import load_clips, read_dataset  # noqa: E402
from model.audio import AudioEncoder, window_mel  # noqa: E402

CACHE = Path(os.environ.get("AVSUB_CACHE", Path.home() / ".cache" / "avsub"))


def probe_sets(file: str, tensors) -> dict[str, dict[str, torch.Tensor]]:
    """{"train" | "val": tensors(clips)} for train.py's synthetic training (seed 1, 1,600
    clips) and validation (seed 2, 200) sets, decoded as train.py decodes them (3 s,
    log-mels, 2 frames/s at 64 px); cached in AVSUB_CACHE/file (safetensors)."""
    path = CACHE / file
    if path.exists():
        flat = load_file(path)
        return {name: {key.split(".", 1)[1]: v for key, v in flat.items()
                       if key.startswith(name + ".")} for name in ("train", "val")}  # fmt: skip
    data = {}
    for name, (seed, n) in {"train": (1, 1600), "val": (2, 200)}.items():
        folder = CACHE / "synthetic" / f"{name}-s{seed}-n{n}-v{synthetic.VERSION}"
        synthetic.generate(folder, n, seed)
        examples, _ = read_dataset(folder)
        mel_fn = lambda a: window_mel(a, 80)[:, :300].to(torch.float16)  # noqa: E731
        clips, _ = load_clips(examples, 3.0, 2.0, 64, mel_fn)
        data[name] = tensors(clips)
    save_file({f"{name}.{k}": v.contiguous() for name, d in data.items() for k, v in d.items()},
              path)  # fmt: skip
    return data


def load_mels() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"train" | "val": (log-mels (N, 80, 300) float16, counts (N,) 0-2)} of train.py's sets."""

    def tensors(clips) -> dict[str, torch.Tensor]:
        counts = [list(synthetic.COUNTS).index(synthetic.parse_caption(c.text)["count"])
                  for c in clips]  # fmt: skip
        return {"mel": torch.stack([c.mel for c in clips]), "count": torch.tensor(counts)}

    return {name: (d["mel"], d["count"]) for name, d in probe_sets("probe-mels.safetensors",
                                                                   tensors).items()}  # fmt: skip


class Probe(nn.Module):
    def __init__(self, variant: str, width: int = 128):
        super().__init__()
        self.enc = AudioEncoder(80, 150, width, 2, 2)
        self.query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.attn = nn.MultiheadAttention(width, 2, batch_first=True)
        self.ln = nn.LayerNorm(width)
        self.summary = None
        if variant == "summary":
            self.summary = nn.Sequential(nn.Linear(width, width), nn.LayerNorm(width))
        self.head = nn.Linear(width, 3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (B, 80, 300) -> count logits (B, 3)."""
        x = self.enc(mel)  # (B, 150, D)
        if self.summary is not None:
            x = torch.cat([x, self.summary(x.mean(1))[:, None]], 1)  # (B, 151, D)
        q = self.query.expand(len(x), -1, -1)  # (B, 1, D)
        y, _ = self.attn(q, x, x)  # (B, 1, D)
        return self.head(self.ln(y[:, 0] + q[:, 0]))


def optimiser_step(model: nn.Module, optimizer, loss: torch.Tensor, peak: float, step: int):
    """train.py's step: the rate warmed up linearly to the peak over 100 steps (times a
    group's "scale", where it has one), the gradient clipped to norm 1, then AdamW."""
    for group in optimizer.param_groups:
        group["lr"] = group.get("scale", 1.0) * peak * min(1, step / 100)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def run(mels, variant: str, seed: int, steps: int, lr: float = 2e-3) -> list[int]:
    """Validation count accuracy (%) every 50 steps."""
    torch.manual_seed(seed)
    model = Probe(variant)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    (mel, count), (val_mel, val_count) = mels["train"], mels["val"]
    generator = torch.Generator().manual_seed(seed)
    curve = []
    for step in range(1, steps + 1):
        batch = torch.randint(len(count), (32,), generator=generator)
        loss = F.cross_entropy(model(mel[batch].float()), count[batch])
        optimiser_step(model, optimizer, loss, lr, step)
        if step % 50 == 0:
            model.eval()
            with torch.no_grad():
                right = model(val_mel.float()).argmax(-1) == val_count
            model.train()
            curve.append(round(100 * right.float().mean().item()))
    return curve


def main() -> int:
    torch.set_num_threads(1)
    variant, seeds = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 600
    mels = load_mels()
    started = time.monotonic()
    for seed in seeds:
        print(variant, seed, run(mels, variant, seed, steps), flush=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"wall {time.monotonic() - started:.0f} s, CPU {usage.ru_utime + usage.ru_stime:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
