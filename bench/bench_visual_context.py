"""Does the picture help? caption.py on the lecture set (bench/lecture_media.py) with the
text on screen as context (--visual-context auto) and without (off), and the OCR's cost on
a 20-minute talk.

Per sound level and picture (slides, blank, unrelated): WER (the Whisper paper's English
normaliser on both sides) and term errors (terms on the slide and spoken that the output
does not write, any case). Unrelated slides also count terms written that the speech never
says. Clean speech over a blank picture must give the very same subtitles as
--visual-context off.

    python bench/bench_visual_context.py [--clips 36] [--talk] [--extra ARGS]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import jiwer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.screen_terms import times_written  # noqa: E402
from bench.lecture_media import (  # noqa: E402
    HARM_LEVELS,
    HARMS,
    LECTURES,
    LEVELS,
    PICTURES,
    build_harm_set,
    build_set,
    load_set,
)
from evaluation.text_norm import normalise  # noqa: E402

OUT = ROOT / "bench" / "out"


def caption(inputs: list[Path], out: Path, extra: list[str]) -> float:
    """Run caption.py (JSON and SRT out); returns its wall time in seconds."""
    command = [sys.executable, str(ROOT / "caption.py"), *map(str, inputs), "--out", str(out),
               "--format", "json,srt", "--quiet", "--overwrite", *extra]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def text_of(out: Path, name: str) -> str:
    rows = json.loads((out / f"{name}.json").read_text())["cues"]
    return " ".join(" ".join(row["text"].split()) for row in rows)


def wer(pairs: list[tuple[str, str]]) -> float:
    refs = [normalise(r) for r, _ in pairs]
    hyps = [normalise(h) for _, h in pairs]
    return 100 * jiwer.wer(refs, hyps)


def lecture_table(clips, out: Path) -> dict:
    figures = {}
    print(f"{'level':<6} {'picture':<10} {'WER %':>6} {'term err %':>10} {'false terms':>11}")
    for level, _ in LEVELS:
        for picture in PICTURES:
            chosen = [c for c in clips if c.level == level and c.picture == picture]
            pairs = [(c.text, text_of(out, c.name)) for c in chosen]
            terms = sum(len(c.terms) for c in chosen)
            missed = sum(
                not times_written(t, hyp)
                for c, (_, hyp) in zip(chosen, pairs, strict=True)
                for t in c.terms
            )
            false_terms = 0
            if picture == "unrelated":  # terms of the other slide written, never spoken
                for c, (ref, hyp) in zip(chosen, pairs, strict=True):
                    other = LECTURES[(int(c.name[:2]) + len(LECTURES) // 2) % len(LECTURES)][2]
                    false_terms += sum(times_written(t, hyp) > times_written(t, ref) for t in other)
            row = {"wer": wer(pairs), "term_errors": 100 * missed / terms, "false": false_terms}
            figures[(level, picture)] = row
            print(f"{level:<6} {picture:<10} {row['wer']:6.1f} {row['term_errors']:10.1f} "
                  f"{false_terms:11d}")  # fmt: skip
    return figures


def looping(text: str) -> bool:
    """Whether a text repeats itself: a word of 3+ letters written 3 times or more."""
    words = [w for w in normalise(text).split() if len(w) >= 3]
    return any(words.count(w) >= 3 for w in set(words))


def harm_table(extra: list[str]) -> None:
    """Text that must not harm, against the same audio over a blank picture."""
    folder = OUT / "lecture-harms"
    if not (folder / "clips.json").exists():
        build_harm_set(folder)
    clips = load_set(folder)
    out = OUT / "lecture-harms-auto"
    caption([folder / f"{c.name}.mp4" for c in clips], out, ["--visual-context", "auto", *extra])
    print(f"{'level':<6} {'picture':<10} {'WER %':>6} {'term err %':>10} {'same as blank':>13}")
    for level, _ in HARM_LEVELS:
        blank = {c.name[:2]: text_of(out, c.name) for c in clips
                 if c.level == level and c.picture == "blank"}  # fmt: skip
        for kind in HARMS:
            chosen = [c for c in clips if c.level == level and c.picture == kind]
            pairs = [(c.text, text_of(out, c.name)) for c in chosen]
            terms = sum(len(c.terms) for c in chosen)
            missed = sum(not times_written(t, hyp) for c, (_, hyp) in
                         zip(chosen, pairs, strict=True) for t in c.terms)  # fmt: skip
            same = sum(hyp == blank[c.name[:2]] for c, (_, hyp) in zip(chosen, pairs, strict=True))
            print(f"{level:<6} {kind:<10} {wer(pairs):6.1f} {100 * missed / terms:10.1f} "
                  f"{same:>6d} of {len(chosen)}")  # fmt: skip


def talk_cost(extra: list[str]) -> None:
    """Wall time of caption.py on a 20-minute talk (slides every 25-35 s) with and without
    the text on screen."""
    from bench.shot_media import build_talk_video

    folder = OUT / "talk"
    video = folder / "talk_20min.mp4"
    if not video.exists():
        build_talk_video(folder, "talk_20min", 1200.0, seed=3)
    times = {}
    for mode in ("off", "auto", "off", "auto"):
        seconds = caption([video], OUT / f"talk-{mode}", ["--visual-context", mode, *extra])
        times.setdefault(mode, []).append(seconds)
        print(f"talk, --visual-context {mode}: {seconds:.1f} s")
    off, auto = min(times["off"]), min(times["auto"])
    print(f"talk: visual context adds {100 * (auto - off) / off:.1f}% ({auto:.1f} s against "
          f"{off:.1f} s, best of two each)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=len(LECTURES))
    parser.add_argument("--talk", action="store_true", help="also the cost on a 20-min talk")
    parser.add_argument("--harms", action="store_true",
                        help="also chrome, a paragraph and burned-in subtitles")  # fmt: skip
    parser.add_argument("--skip-lectures", action="store_true", help="only --harms/--talk")
    parser.add_argument("--extra", default="--language en", help="more caption.py arguments")
    args = parser.parse_args()
    extra = shlex.split(args.extra)
    if not args.skip_lectures:
        lectures(args.clips, extra)
    if args.harms:
        harm_table(extra)
    if args.talk:
        talk_cost(extra)


def lectures(n_clips: int, extra: list[str]) -> None:
    folder = OUT / "lectures"
    if not (folder / "clips.json").exists():
        build_set(folder)
    clips = [c for c in load_set(folder) if int(c.name[:2]) < n_clips]
    videos = [folder / f"{c.name}.mp4" for c in clips]
    print(f"{len(clips)} clips ({n_clips} sentences x 4 levels x 3 pictures), "
          f"caption.py {' '.join(extra)}")  # fmt: skip
    seconds = caption(videos, OUT / "lectures-auto", ["--visual-context", "auto", *extra])
    print(f"--visual-context auto: {seconds:.1f} s")
    figures = lecture_table(clips, OUT / "lectures-auto")
    # No text on screen: the same files with the screen read and not, in the same batches.
    blank_clean = [folder / f"{c.name}.mp4" for c in clips if c.name.endswith("clean_blank")]
    for mode in ("auto", "off"):
        caption(blank_clean, OUT / f"lectures-blank-{mode}", ["--visual-context", mode, *extra])
    same = sum(
        (OUT / "lectures-blank-off" / f"{v.stem}.srt").read_bytes()
        == (OUT / "lectures-blank-auto" / f"{v.stem}.srt").read_bytes()
        for v in blank_clean
    )
    print(f"clean speech, blank picture: {same} of {len(blank_clean)} subtitle files identical "
          f"to --visual-context off")  # fmt: skip
    # Batches of other sizes or members change the arithmetic, and a hard clip's beam can
    # turn on it: the same blank files in the mixed run above, and alone at batch size 1.
    mixed = sum(
        (OUT / "lectures-blank-off" / f"{v.stem}.srt").read_bytes()
        != (OUT / "lectures-auto" / f"{v.stem}.srt").read_bytes()
        for v in blank_clean
    )
    caption(blank_clean, OUT / "lectures-blank-b1", ["--visual-context", "off", "--batch-size",
                                                      "1", *extra])  # fmt: skip
    alone = sum(
        (OUT / "lectures-blank-off" / f"{v.stem}.srt").read_bytes()
        != (OUT / "lectures-blank-b1" / f"{v.stem}.srt").read_bytes()
        for v in blank_clean
    )
    print(f"  for scale: {mixed} differ when decoded in the mixed run's batches, {alone} when "
          f"decoded at --batch-size 1 (no text on screen either way)")  # fmt: skip
    slides, blank = figures[("5dB", "slides")], figures[("5dB", "blank")]
    print(f"5 dB: WER slides/blank {slides['wer'] / blank['wer']:.2f} (target <= 0.7); term "
          f"errors slides/blank {slides['term_errors'] / blank['term_errors']:.2f} (target <= 0.5)")  # fmt: skip
    for level, _ in LEVELS:
        gap = figures[(level, "unrelated")]["wer"] - figures[(level, "blank")]["wer"]
        print(f"{level}: unrelated slides WER {gap:+.1f} points against blank (target <= +1)")
    loops = {picture: sum(looping(text_of(OUT / "lectures-auto", c.name))
                          for c in clips if c.picture == picture) for picture in PICTURES}  # fmt: skip
    print("outputs that repeat a word 3+ times: " +
          ", ".join(f"{p} {n} of {len(clips) // 3}" for p, n in loops.items()))  # fmt: skip


if __name__ == "__main__":
    main()
