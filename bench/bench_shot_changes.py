"""Issue 19's benchmark: shot changes found in the picture, and cues timed to them.

    python bench/bench_shot_changes.py --out DIR [--no-cost] [--no-faster-whisper]

1. Detection: the three videos of bench/shot_media.py (24, 25 and 29.97 fps, 3 minutes
   each, hard cuts, dissolves and fades at known frames): precision and recall of the hard
   cuts within one frame, how many are exact, and how many cuts were reported inside a
   dissolve or fade.
2. Cues: caption.py with `--shot-changes auto` and `off`, and faster-whisper tiny.en
   (bench/faster_whisper_srt.py), scored by score.py's report with `--media`: cues crossing
   a cut with no speech across it, cue edges near a cut but off it, the layout rules, WER.
3. Cost: caption.py on two 20-minute 720p videos (two minutes at 24 fps, repeated ten
   times: panning textures with a cut every 4 s, the worst case, and a recorded talk whose
   slides change every 25-35 s) with and without shot changes, wall and CPU time of the
   process, and the detector alone. Build them first with `bench/shot_media.py --out
   DIR/set --seconds 180 --long-minutes 20`.
Each system runs as its own process, one after the other.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.layout import LayoutOptions  # noqa: E402
from bench.shot_media import build_set  # noqa: E402
from data.shot_changes import detect_shot_changes  # noqa: E402
from evaluation.scoring import score_paths  # noqa: E402


def run_timed(command: list[str]) -> dict:
    """Run `command` to its end: {"wall", "cpu"} seconds (CPU: user + system of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"wall": wall, "cpu": cpu}


def detection_scores(set_dir: Path, names: list[str]) -> list[dict]:
    rows = []
    for name in names:
        truth = json.loads((set_dir / f"{name}.cuts.json").read_text())
        started = time.process_time()
        found = detect_shot_changes(set_dir / f"{name}.mp4")
        cpu = time.process_time() - started
        frames, cuts = found.frames(), truth["cuts"]
        hits = [f for f in frames if any(abs(f - c) <= 1 for c in cuts)]
        caught = [c for c in cuts if any(abs(f - c) <= 1 for f in frames)]
        in_gradual = [f for f in frames if any(a - 1 <= f <= b + 1 for a, b, _ in truth["gradual"])]
        rows.append(
            {
                "video": name,
                "fps": found.fps,
                "cuts": len(cuts),
                "gradual": len(truth["gradual"]),
                "found": len(frames),
                "precision": len(hits) / len(frames) if frames else 1.0,
                "recall": len(caught) / len(cuts) if cuts else 1.0,
                "exact": sum(f in cuts for f in frames),
                "found_in_gradual": len(in_gradual),
                "cpu": cpu,
            }
        )
    return rows


def system_scores(hyp: Path, ref: Path, media: Path) -> dict:
    report = score_paths(hyp, ref, ["wer"], use_java=False, layout=LayoutOptions(), media=media)
    keys = (
        "cues",
        "rule_all",
        "cuts",
        "cues_crossing_cut",
        "cue_edges_off_cut",
        "rule_shot_changes",
    )
    return {"wer": report["corpus"]["wer"], **{k: report["layout"]["corpus"][k] for k in keys}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="work folder (the set is kept)")
    parser.add_argument("--no-cost", action="store_true", help="skip the 20-minute video")
    parser.add_argument("--cost-only", action="store_true", help="only the 20-minute video")
    parser.add_argument("--cost-runs", type=int, default=2, help="runs of each mode (default 2)")
    parser.add_argument("--no-faster-whisper", action="store_true")
    args = parser.parse_args()
    set_dir, results_path = args.out / "set", args.out / "results.json"
    names = [video["name"] for video in build_set(set_dir, 180.0)]
    media, ref = args.out / "media", args.out / "ref"
    for folder in (media, ref):
        folder.mkdir(parents=True, exist_ok=True)
    for name in names:  # score.py pairs files by name: one folder each
        for src, dst in ((f"{name}.mp4", media), (f"{name}.srt", ref)):
            if not (dst / src).exists():
                (dst / src).symlink_to((set_dir / src).resolve())
    results = {}
    if args.cost_only:
        results_path = args.out / "results_cost.json"
    else:
        results["detection"] = detection_scores(set_dir, names)
        results["systems"] = run_systems(args, names, media, ref)
    long_videos = [set_dir / name for name in ("long_720p.mp4", "talk_720p.mp4")]
    if not args.no_cost and all(video.exists() for video in long_videos):
        results["cost"] = {video.stem: run_cost(args, video) for video in long_videos}
    results_path.write_text(json.dumps(results, indent=1) + "\n")
    print_tables(results)


def run_systems(args, names: list[str], media: Path, ref: Path) -> dict:
    videos = [str(media / f"{name}.mp4") for name in names]
    systems = {}
    for mode in ("auto", "off"):
        out = args.out / f"avsub_{mode}"
        command = [sys.executable, "caption.py", *videos, "--out", str(out), "--quiet"]
        systems[f"avsub --shot-changes {mode}"] = (
            out,
            [*command, "--overwrite", "--shot-changes", mode],
        )
    if not args.no_faster_whisper:
        out = args.out / "faster_whisper"
        command = [sys.executable, "bench/faster_whisper_srt.py", *videos, "--out", str(out)]
        systems["faster-whisper tiny.en"] = (out, command)
    scores = {}
    for label, (out, command) in systems.items():
        timing = run_timed(command)
        scores[label] = {**system_scores(out, ref, media), **timing}
        print(label, scores[label], flush=True)
    return scores


def run_cost(args, long_video: Path) -> dict:
    cost = {}
    for mode in ("off", "auto") * args.cost_runs:  # alternated: the load on the machine drifts
        command = [sys.executable, "caption.py", str(long_video), "--out", str(args.out / "long")]
        timing = run_timed([*command, "--quiet", "--overwrite", "--shot-changes", mode])
        cost.setdefault(mode, []).append(timing)
        print(long_video.name, mode, timing, flush=True)
    detect = f"from data.shot_changes import detect_shot_changes as d; d({str(long_video)!r})"
    cost["detector alone"] = [run_timed([sys.executable, "-c", detect])]
    return cost


def print_tables(results: dict) -> None:
    print(
        "\n| video | fps | hard cuts | dissolves + fades | found | precision | recall | exact frame | found in a dissolve/fade | detector CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in results.get("detection", []):
        print(
            f"| {row['video']} | {row['fps']:.3f} | {row['cuts']} | {row['gradual']} | {row['found']} | "
            f"{row['precision']:.3f} | {row['recall']:.3f} | {row['exact']} | {row['found_in_gradual']} | {row['cpu']:.1f} |"
        )
    print(
        "\n| system | cues | cues crossing a cut | edges near a cut, off it | shot-change rules % | all layout rules % | WER % | wall s | CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, row in results.get("systems", {}).items():
        print(
            f"| {label} | {row['cues']} | {row['cues_crossing_cut']} | {row['cue_edges_off_cut']} | "
            f"{row['rule_shot_changes']:.1f} | {row['rule_all']:.1f} | {row['wer']:.2f} | {row['wall']:.0f} | {row['cpu']:.0f} |"
        )
    for video, cost in results.get("cost", {}).items():
        print(f"\n| {video} (20 minutes) | wall s | CPU s |\n|---|---|---|")
        for mode, runs in cost.items():
            for run in runs:
                print(f"| {mode} | {run['wall']:.1f} | {run['cpu']:.1f} |")


if __name__ == "__main__":
    main()
