"""Benchmark: score.py's caption-set scoring against direct pycocoevalcap calls.

    python bench/bench_scoring.py [--videos 10000] [--refs 5] [--seed 0]

Generates a caption set (one hypothesis and --refs references per video), writes it as
JSON files, then times in one run:
- direct: what COCOEvalCap.evaluate() does (PTBTokenizer on references, PTBTokenizer on
  hypotheses, Bleu(4), Meteor, Rouge, Cider) on in-memory dicts;
- ours: `evaluation.scoring.score_paths` on the JSON files, i.e. everything `score.py`
  does except starting Python: reading the files, tokenizing, scoring, the report.
Both sides get one small untimed warm-up first so that neither pays for a cold disk
cache of the jars, then --repeats alternating timed runs each; the best wall time and
the best CPU time (this process plus its JVMs) of each side count. Prints both sets of
figures (they must be equal), the times and the ratios; exits 1 if the figures differ
or a ratio is above --max-ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pycocoevalcap.bleu.bleu import Bleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider  # noqa: E402
from pycocoevalcap.meteor.meteor import Meteor  # noqa: E402
from pycocoevalcap.rouge.rouge import Rouge  # noqa: E402
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer  # noqa: E402

from evaluation.caption_metrics import java_available  # noqa: E402
from evaluation.scoring import score_paths  # noqa: E402

SUBJECTS = [
    "a man",
    "A woman",
    "the kids",
    "two dogs",
    "a chef",
    "The band",
    "someone",
    "a cat",
    "People",
]
VERBS = [
    "is playing",
    "plays",
    "is cooking",
    "walks through",
    "sings",
    "is cutting",
    "looks at",
    "jumps over",
]
OBJECTS = [
    "a guitar",
    "pasta",
    "the park",
    "a red car",
    "the table",
    "a song",
    "vegetables",
    "a fence",
    "the ball",
]
TAILS = [
    "",
    " on a stage",
    " in the rain",
    ", slowly",
    " while laughing",
    " at night",
    " outside",
    " together",
]


def make_caption_set(videos: int, refs_per_video: int, seed: int):
    rng = random.Random(seed)

    def caption() -> str:
        text = (
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}"
        )
        return text + rng.choice([".", "", "!"])

    refs = {f"video{i}": [caption() for _ in range(refs_per_video)] for i in range(videos)}
    hyps = {}
    for video_id, captions in refs.items():
        words = rng.choice(captions).split()
        words[rng.randrange(len(words))] = rng.choice(["the", "a", "person", "something"])
        hyps[video_id] = " ".join(words)
    return hyps, refs


def direct_pycocoevalcap(hyps: dict[str, str], refs: dict[str, list[str]]) -> dict[str, float]:
    """COCOEvalCap.evaluate() without SPICE, on dicts instead of COCO objects."""
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in refs[k]] for k in refs})
    res = tokenizer.tokenize({k: [{"caption": hyps[k]}] for k in refs})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    meteor_scorer = Meteor()
    meteor, _ = meteor_scorer.compute_score(gts, res)
    del meteor_scorer
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    figures = dict(zip(("bleu1", "bleu2", "bleu3", "bleu4"), bleu, strict=True))
    figures.update(meteor=meteor, rougeL=float(rouge), cider=float(cider))
    return {key: 100.0 * value for key, value in figures.items()}


def write_set(folder: Path, hyps, refs) -> tuple[Path, Path]:
    hyp_path, ref_path = folder / "hyps.json", folder / "refs.json"
    hyp_path.write_text(json.dumps([{"video_id": k, "caption": v} for k, v in hyps.items()]))
    ref_path.write_text(json.dumps(refs))
    return hyp_path, ref_path


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the tokenizer and METEOR JVMs).

    Unlike wall time it does not grow when other programs load the machine.
    """
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(function, *args):
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = function(*args)
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--refs", type=int, default=5, help="references per video")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats", type=int, default=2, help="alternating timed runs per side; the best counts"
    )
    parser.add_argument("--max-ratio", type=float, default=1.2)
    args = parser.parse_args()
    if not java_available():
        print("bench_scoring: Java is needed (PTBTokenizer, METEOR)", file=sys.stderr)
        return 2

    hyps, refs = make_caption_set(args.videos, args.refs, args.seed)
    warm_hyps, warm_refs = make_caption_set(20, args.refs, args.seed + 1)
    times: dict[str, list[tuple[float, float]]] = {"direct": [], "ours": []}
    with tempfile.TemporaryDirectory() as folder:
        hyp_path, ref_path = write_set(Path(folder), hyps, refs)
        warm_dir = Path(folder) / "warm"
        warm_dir.mkdir()
        warm_hyp, warm_ref = write_set(warm_dir, warm_hyps, warm_refs)
        direct_pycocoevalcap(warm_hyps, warm_refs)
        score_paths(warm_hyp, warm_ref)
        for repeat in range(args.repeats):
            # Alternate who goes first, so that neither always meets a busier machine.
            for side in ("direct", "ours") if repeat % 2 == 0 else ("ours", "direct"):
                if side == "direct":
                    direct, wall, cpu = timed(direct_pycocoevalcap, hyps, refs)
                else:
                    report, wall, cpu = timed(score_paths, hyp_path, ref_path)
                    ours = report["corpus"]
                times[side].append((wall, cpu))
                print(f"run {repeat + 1} {side}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)

    best = {
        side: (min(w for w, _ in runs), min(c for _, c in runs)) for side, runs in times.items()
    }
    wall_ratio = best["ours"][0] / best["direct"][0]
    cpu_ratio = best["ours"][1] / best["direct"][1]
    pairs = sum(len(r) for r in refs.values())
    print(
        f"caption set: {args.videos} videos x {args.refs} references ({pairs} hypothesis-reference pairs)"
    )
    print("| metric | direct pycocoevalcap | score.py |")
    print("|---|---|---|")
    for key, value in direct.items():
        print(f"| {key} | {value:.4f} | {ours[key]:.4f} |")
    print(
        f"best of {args.repeats}: direct {best['direct'][0]:.2f} s wall / {best['direct'][1]:.2f} s CPU; "
        f"score.py {best['ours'][0]:.2f} s wall / {best['ours'][1]:.2f} s CPU"
    )
    print(
        f"ratio score.py / direct: {wall_ratio:.3f} wall, {cpu_ratio:.3f} CPU (limit {args.max_ratio})"
    )
    same = all(
        abs(ours[key] - value) <= 1e-9 * max(1.0, abs(value)) for key, value in direct.items()
    )
    if not same:
        print("FIGURES DIFFER", file=sys.stderr)
    return 0 if same and max(wall_ratio, cpu_ratio) <= args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
