"""The default training run, from a cold cache, on several seeds, scored through caption.py.

    python bench/train_synthetic.py [--decoder transformer|lstm] [--seeds 0 1 2]
                                    [--root runs/bench] [--jobs 1] [-- MORE TRAIN.PY ARGS]

For every seed: `python train.py --seed S --out ROOT/DECODER-sS` with AVSUB_CACHE pointing at
an empty folder (so the 1,600 + 200 synthetic clips are written first, as on a fresh
machine), timed (wall and the process's CPU seconds; the target is 10 minutes of wall on an
otherwise idle 2-core machine); then `python caption.py TEST --model OUT/best` on 300 fresh
clips (seed 3, never used in training), each clip's subtitle text parsed into its five slots
(target: all five right on at least 90% of the clips, 85% for the LSTM decoder); then the
ablation of bench/synthetic_eval.py (the same checkpoint with the frames blanked and with
the audio silenced). ROOT/results-DECODER.json holds every figure; the tables are printed.
--jobs N trains N seeds at once (each with cores / N threads): on a shared machine that
gets the runs done sooner, and their wall times then say little: read the CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.synthetic_eval import evaluate, print_table  # noqa: E402
from data import synthetic  # noqa: E402
from data.subtitles import read_subtitles  # noqa: E402

TEST_SEED = 3  # train.py trains on seed 1 and validates on seed 2


def timed(command: list[str], env: dict | None = None, log: Path | None = None) -> dict:
    """Run command -> {"code", "wall_s", "cpu_s"} (the child's user + system CPU seconds)."""
    started = time.monotonic()
    with open(log, "w") if log else open(os.devnull, "w") as sink:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return {
        "code": child.returncode,
        "wall_s": time.monotonic() - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def caption_slots(subs: Path, test_dir: Path) -> dict[str, float]:
    """Per-slot and all-five accuracy (%) of caption.py's subtitles against the test set."""
    captions = json.loads((test_dir / "captions.json").read_text())
    right = {slot: 0 for slot in synthetic.SLOTS}
    every = 0
    for name, reference in captions.items():
        path = subs / Path(name).with_suffix(".srt")
        text = " ".join(c.text for c in read_subtitles(path)) if path.exists() else ""
        parsed = synthetic.parse_caption(" ".join(text.split())) or {}
        truth = synthetic.parse_caption(reference)
        hits = [parsed.get(slot) == truth[slot] for slot in synthetic.SLOTS]
        for slot, hit in zip(synthetic.SLOTS, hits, strict=True):
            right[slot] += hit
        every += all(hits)
    n = len(captions)
    return {**{s: 100.0 * right[s] / n for s in synthetic.SLOTS}, "all": 100.0 * every / n}


def one_seed(seed: int, args, test_dir: Path, threads: int | None) -> dict:
    out = args.root / f"{args.decoder}-s{seed}"
    cache = args.root / f"cache-{args.decoder}-s{seed}"
    for folder in (out, cache):
        shutil.rmtree(folder, ignore_errors=True)
    cache.mkdir(parents=True)
    env = dict(os.environ, AVSUB_CACHE=str(cache), PYTHONUNBUFFERED="1")
    command = [sys.executable, str(ROOT / "train.py"), "--decoder", args.decoder,
               "--seed", str(seed), "--out", str(out), *args.extra]  # fmt: skip
    if threads:
        command += ["--threads", str(threads)]
    print("$", " ".join(command), flush=True)
    out.mkdir(parents=True)
    training = timed(command, env, out / "train.log")
    print(f"seed {seed}: train.py exited {training['code']} after {training['wall_s'] / 60:.1f} "
          f"min wall, {training['cpu_s'] / 60:.1f} min CPU", flush=True)  # fmt: skip
    result = {"seed": seed, "train": training}
    if training["code"]:
        return result
    subs = args.root / f"subs-{args.decoder}-s{seed}"
    shutil.rmtree(subs, ignore_errors=True)
    command = [sys.executable, str(ROOT / "caption.py"), str(test_dir), "--out", str(subs),
               "--model", str(out / "best"), "--quiet"]  # fmt: skip
    print("$", " ".join(command), flush=True)
    result["caption"] = timed(command, dict(os.environ), out / "caption.log")
    result["slots"] = caption_slots(subs, test_dir)
    state = json.loads((out / "best" / "train_state.json").read_text())
    result["best_step"] = state["step"]
    result["ablation"] = evaluate(str(out / "best"), test_dir, args.n, TEST_SEED)
    shutil.rmtree(cache, ignore_errors=True)
    return result


def print_results(results: list[dict], decoder: str, target: float) -> None:
    print(f"\n{decoder}: through caption.py --model OUT/best on the test clips (%)")
    columns = [*synthetic.SLOTS, "all"]
    print("| seed | train.py wall | train.py CPU | best step | "
          + " | ".join(columns) + " |")  # fmt: skip
    print("|---" * (len(columns) + 4) + "|")
    for r in results:
        t = r["train"]
        cells = [f"{r['slots'][c]:.1f}" for c in columns] if "slots" in r else ["-"] * 6
        cells[-1] = f"**{cells[-1]}**"
        print(f"| {r['seed']} | {t['wall_s'] / 60:.1f} min | {t['cpu_s'] / 60:.1f} min | "
              f"{r.get('best_step', '-')} | " + " | ".join(cells) + " |")  # fmt: skip
    passed = [r for r in results if r.get("slots", {}).get("all", 0) >= target]
    print(f"{len(passed)} of {len(results)} seeds at or above {target:.0f}% all five")
    for r in results:
        if "ablation" in r:
            table = {k: v for k, v in r["ablation"].items() if k != "examples"}
            print_table(table, f"seed {r['seed']}: ablation (bench/synthetic_eval.py)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", default="transformer", choices=("transformer", "lstm"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--root", type=Path, default=ROOT / "runs" / "bench")
    parser.add_argument("--n", type=int, default=300, help="test clips")
    parser.add_argument("--jobs", type=int, default=1, help="seeds trained at once")
    parser.add_argument("extra", nargs="*", help="more train.py arguments (after --)")
    args = parser.parse_args()
    args.root = args.root.resolve()
    test_dir = args.root / f"test-s{TEST_SEED}-n{args.n}-v{synthetic.VERSION}"
    synthetic.generate(test_dir, args.n, TEST_SEED)
    threads = max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else None
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda s: one_seed(s, args, test_dir, threads), args.seeds))
    path = args.root / f"results-{args.decoder}.json"
    path.write_text(json.dumps(results, indent=1))
    print_results(results, args.decoder, 90.0 if args.decoder == "transformer" else 85.0)
    print(f"\nwrote {path}")
    return 0 if all("slots" in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
