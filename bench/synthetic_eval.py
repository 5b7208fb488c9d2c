"""Slot accuracy of a captioning checkpoint on a fresh synthetic test set, with ablations.

    python bench/synthetic_eval.py --model runs/syn/best [--seed 3 --n 300]

Generates the test set (a seed train.py never uses: it trains on seed 1, validates on 2),
captions every clip with greedy decoding, parses the caption into its five slots and
prints per-slot accuracy and the share of clips with every slot right, three times:
as recorded, with the frames blanked (black pictures) and with the audio silenced.
Colour, shape and direction are only visible, pitch and count only audible, so blanking
one sense should drop that sense's slots to chance (1/4, 1/3, 1/4; 1/2, 1/3) and leave
the other's alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from data import synthetic  # noqa: E402
from data.datasets import load_clips, read_dataset  # noqa: E402
from model.audio import window_mel  # noqa: E402
from model.checkpoint import load_model  # noqa: E402
from model.search import DecodingOptions, decode_windows  # noqa: E402

CHANCE = {"color": 25.0, "shape": 33.3, "direction": 25.0, "pitch": 50.0, "count": 33.3}


def caption_clips(loaded, clips, blank: str | None, batch: int = 50) -> list[str]:
    """Greedy captions; blank: None, "frames" (all pixels 0) or "audio" (all samples 0)."""
    model, tok = loaded.model, loaded.tokenizer
    options = DecodingOptions(beam_size=1, without_timestamps=True, sample_len=32)
    silent_mel = window_mel(np.zeros(48000, np.float32), model.config.n_mels)
    texts = []
    for i in range(0, len(clips), batch):
        part = clips[i : i + batch]
        frames_per_clip = max(len(c.frames) for c in part)
        mel = torch.stack([c.mel.float() for c in part])  # (B, n_mels, T)
        if blank == "audio":
            mel = silent_mel[None, :, : mel.shape[-1]].expand_as(mel).clone()
        frames = torch.stack([c.frames[:frames_per_clip] for c in part])  # (B, F, S, S, 3)
        if blank == "frames":
            frames = torch.zeros_like(frames)
        times = torch.stack([c.times[:frames_per_clip] for c in part])  # (B, F)
        with torch.no_grad():
            cross = model.encode(mel, frames, times)
            results = decode_windows(model, tok, cross, [tok.sot], [[]] * len(part), options, 0.0)
        texts += [r.text for r in results]
    return texts


def slot_accuracy(texts: list[str], truths: list[dict]) -> dict[str, float]:
    right = {slot: 0 for slot in synthetic.SLOTS}
    every = 0
    for text, truth in zip(texts, truths, strict=True):
        parsed = synthetic.parse_caption(text) or {}
        hits = [parsed.get(slot) == truth[slot] for slot in synthetic.SLOTS]
        for slot, hit in zip(synthetic.SLOTS, hits, strict=True):
            right[slot] += hit
        every += all(hits)
    n = len(texts)
    scores = {slot: 100.0 * right[slot] / n for slot in synthetic.SLOTS}
    scores["visual"] = sum(scores[s] for s in synthetic.VISUAL_SLOTS) / 3
    scores["audio"] = sum(scores[s] for s in synthetic.AUDIO_SLOTS) / 2
    scores["all"] = 100.0 * every / n
    return scores


def evaluate(model_dir: str, test_dir: Path, n: int, seed: int) -> dict[str, dict[str, float]]:
    synthetic.generate(test_dir, n, seed)
    loaded = load_model(model_dir, "cpu")
    config = loaded.model.config
    examples, _ = read_dataset(test_dir)
    seconds = config.n_audio_ctx * 0.02

    def mel_fn(audio):
        return window_mel(audio, config.n_mels)[:, : 2 * config.n_audio_ctx]

    clips, report = load_clips(
        examples, seconds, config.frames_per_second, config.frame_size, mel_fn
    )
    truths = [synthetic.parse_caption(c.text) for c in clips]
    table = {}
    for blank in (None, "frames", "audio"):
        texts = caption_clips(loaded, clips, blank)
        table[blank or "none"] = slot_accuracy(texts, truths)
        if blank is None:
            table["examples"] = list(zip([c.text for c in clips[:3]], texts[:3], strict=True))
    return table


def print_table(table: dict, title: str) -> None:
    columns = [*synthetic.SLOTS, "visual", "audio", "all"]
    print(f"\n{title}")
    print(f"{'blanked':<8} " + " ".join(f"{c:>9}" for c in columns))
    for blank in ("none", "frames", "audio"):
        print(f"{blank:<8} " + " ".join(f"{table[blank][c]:>9.1f}" for c in columns))
    print(f"{'chance':<8} " + " ".join(f"{CHANCE[c]:>9.1f}" for c in synthetic.SLOTS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="checkpoint folder(s)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--test-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.seed in (1, 2):
        parser.error("seeds 1 and 2 are train.py's training and validation sets")
    torch.set_num_threads(1)
    test_dir = (
        args.test_dir
        or Path.home()
        / ".cache"
        / "avsub"
        / "synthetic"
        / f"test-s{args.seed}-n{args.n}-v{synthetic.VERSION}"
    )
    for model_dir in args.model:
        started = time.monotonic()
        table = evaluate(model_dir, test_dir, args.n, args.seed)
        for reference, hypothesis in table.pop("examples"):
            print(f"  ref: {reference}\n  hyp: {hypothesis}")
        print_table(table, f"{model_dir}: slot accuracy (%) on {args.n} test clips, seed {args.seed} "
                    f"({time.monotonic() - started:.0f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
