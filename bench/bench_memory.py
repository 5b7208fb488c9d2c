"""Peak memory of caption.py with many files and with a long file, against one short file.

    python bench/bench_memory.py [--short-seconds 30] [--count 100] [--long-minutes 60]
    python bench/bench_memory.py --short-seconds 10 --count 5 --long-minutes 1   # smoke test

Each case is `caption.py INPUT --out DIR --quiet` in a fresh process with default settings
(add e.g. `--caption-args "--batch-size 16"`), its peak RSS (the process and its children)
sampled from outside with psutil (bench/process_meter.py). Cases: one short file; `--count`
copies of it in one folder (hard links: the same bytes, separate outputs); one file of
`--long-minutes`. Each is printed with its difference from the single short file; the
issue asks for at most +300 MB. Speech is made with espeak-ng (bench/speech_media.py)
once, into bench/out/speech-media/.

    python bench/bench_memory.py --branches [--minutes 20] [--short-minutes 1]

The older comparison, in-process through app.subtitle_run.subtitle (Whisper's long-form loop):
a long file against a short one, with the visual branch off (the default model: frames
never decoded) and with a gate opened, so frames are decoded and go through the ResNet.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIMIT_MB = 300  # the bound on growth over the single short file


def child(path: str, with_vision: bool) -> None:
    import torch

    from app.options import SubtitleOptions
    from app.subtitle_run import subtitle
    from model.checkpoint import load_model
    from model.search import DecodingOptions

    torch.set_num_threads(2)
    loaded = load_model("default", "cpu", captioning_only=not with_vision)
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


def caption_peak(inputs: list[Path], extra: list[str]) -> dict:
    from bench.process_meter import run_measured

    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, str(ROOT / "caption.py"), *map(str, inputs)]
        command += ["--out", str(Path(tmp) / "subs"), "--quiet", *extra]
        measured = run_measured(command, cwd=ROOT)
        outputs = len(list((Path(tmp) / "subs").rglob("*.srt")))
    if measured.returncode != 0:
        raise SystemExit(f"caption.py failed:\n{measured.stderr[-3000:]}")
    return {"peak_rss_mb": measured.peak_rss_mb, "seconds": measured.wall_seconds, "srt": outputs}


def caption_cases(args: argparse.Namespace) -> None:
    from bench.media_cache import DEFAULT_CACHE, cached_speech_video

    extra = shlex.split(args.caption_args)
    short, _ = cached_speech_video(DEFAULT_CACHE, args.short_seconds, seed=0)
    long, _ = cached_speech_video(DEFAULT_CACHE, args.long_minutes * 60, seed=1)
    print(f"caption.py {' '.join(extra) or '(default settings)'}; peak RSS sampled every 20 ms")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    with tempfile.TemporaryDirectory() as tmp:
        many = Path(tmp) / "many"
        many.mkdir()
        for i in range(args.count):
            os.link(short, many / f"short-{i:03d}.mp4")
        cases = [
            (f"1 file of {args.short_seconds:g} s", [short], args.short_seconds),
            (
                f"{args.count} files of {args.short_seconds:g} s",
                [many],
                args.count * args.short_seconds,
            ),
            (f"1 file of {args.long_minutes:g} min", [long], args.long_minutes * 60),
        ]
        print("| case | media | peak RSS | vs 1 short file | wall | outputs |")
        print("|---|---|---|---|---|---|")
        base = None
        for name, inputs, seconds in cases:
            found = caption_peak(inputs, extra)
            base = base if base is not None else found["peak_rss_mb"]
            diff = found["peak_rss_mb"] - base
            verdict = "" if diff <= LIMIT_MB else f" (over {LIMIT_MB} MB)"
            print(
                f"| {name} | {seconds / 60:.1f} min | {found['peak_rss_mb']:.0f} MB "
                f"| {diff:+.0f} MB{verdict} | {found['seconds']:.0f} s | {found['srt']} srt |"
            )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def branches(args: argparse.Namespace) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--short-seconds", type=float, default=30.0)
    parser.add_argument("--count", type=int, default=100, help="short files in the folder case")
    parser.add_argument("--long-minutes", type=float, default=60.0)
    parser.add_argument("--caption-args", default="", help='e.g. "--batch-size 16 --int8"')
    parser.add_argument("--branches", action="store_true", help="the older in-process table")
    parser.add_argument("--minutes", type=float, default=20.0, help="--branches: long file")
    parser.add_argument("--short-minutes", type=float, default=1.0, help="--branches: short file")
    parser.add_argument("--child", default=None)
    parser.add_argument("--vision", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.vision)
    elif args.branches:
        branches(args)
    else:
        caption_cases(args)


if __name__ == "__main__":
    main()
