"""Time the default training run and score it on a fresh synthetic test set.

    python bench/train_synthetic.py [--decoder transformer|lstm] [--out runs/syn] [-- TRAIN ARGS]

Runs `python train.py --out OUT` (the default: synthetic data, from scratch) as a child
process, reports its wall time (the target: under 10 minutes on a 2-core machine, data
generation included on a cold cache), then runs bench/synthetic_eval.py on OUT/best:
slot accuracy on 300 clips of seed 3 (never used in training), with frames blanked and
audio silenced.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", default="transformer")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--n", type=int, default=300, help="test clips")
    parser.add_argument("extra", nargs="*", help="more train.py arguments (after --)")
    args = parser.parse_args()
    out = args.out or ROOT / "runs" / ("syn" if args.decoder == "transformer" else "syn-lstm")
    command = [sys.executable, str(ROOT / "train.py"), "--decoder", args.decoder,
               "--out", str(out), *args.extra]  # fmt: skip
    print("$", " ".join(command), flush=True)
    started = time.monotonic()
    code = subprocess.call(command, cwd=ROOT)
    minutes = (time.monotonic() - started) / 60
    print(f"train.py exited {code} after {minutes:.1f} min (wall)", flush=True)
    if code:
        return code
    evaluate = [sys.executable, str(ROOT / "bench" / "synthetic_eval.py"),
                "--model", str(out / "best"), "--n", str(args.n)]  # fmt: skip
    print("$", " ".join(evaluate), flush=True)
    return subprocess.call(evaluate, cwd=ROOT)


if __name__ == "__main__":
    raise SystemExit(main())
