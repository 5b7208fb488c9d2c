"""Peak memory of subtitling a long video against a short one.

    python bench/bench_memory.py [--minutes 20] [--short-minutes 1]

Speech made with espeak-ng (bench/speech_media.py). Each file is subtitled in a fresh process (caption.py's code path, default model, CPU);
the script prints each process's peak RSS and the difference. Run once with the visual
branch off (the default model: frames never decoded) and once with a gate opened, so
frames are decoded and go through the ResNet.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(path: str, with_vision: bool) -> None:
    import torch

    from app.options import SubtitleOptions
    from app.pipeline import subtitle
    from model.checkpoint import load_model
    from model.search import DecodingOptions

    torch.set_num_threads(2)
    loaded = load_model("default", "cpu")
    if with_vision:
        with torch.no_grad():
            loaded.model.decoder.blocks[0].visual_attn_gate.fill_(1e-3)
    start = time.perf_counter()
    # Greedy, no temperature fallback: memory is what is measured, and this keeps a
    # 20-minute run to minutes on two cores.
    decoding = DecodingOptions(beam_size=1, temperatures=(0.0,))
    cues = subtitle(path, loaded, SubtitleOptions(decoding=decoding))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": peak_mb, "cues": len(cues), "seconds": seconds}))


def measure(path: Path, with_vision: bool) -> dict:
    command = [sys.executable, __file__, "--child", str(path)] + (
        ["--vision"] if with_vision else []
    )
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--short-minutes", type=float, default=1.0)
    parser.add_argument("--child", default=None)
    parser.add_argument("--vision", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.vision)
        return
    from bench.speech_media import make_speech_video

    with tempfile.TemporaryDirectory() as tmp:
        short, _ = make_speech_video(Path(tmp) / "short.mp4", args.short_minutes * 60)
        long, _ = make_speech_video(Path(tmp) / "long.mp4", args.minutes * 60, seed=1)
        print(
            f"| branch | {args.short_minutes:g} min peak RSS | {args.minutes:g} min peak RSS | difference | {args.minutes:g} min wall |"
        )
        print("|---|---|---|---|---|")
        for with_vision in (False, True):
            a, b = measure(short, with_vision), measure(long, with_vision)
            name = "audio + frames (gate open)" if with_vision else "audio only (default, gates 0)"
            diff = b["peak_rss_mb"] - a["peak_rss_mb"]
            print(
                f"| {name} | {a['peak_rss_mb']:.0f} MB | {b['peak_rss_mb']:.0f} MB | {diff:+.0f} MB | {b['seconds']:.0f} s |"
            )


if __name__ == "__main__":
    main()
