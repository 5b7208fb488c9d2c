"""Mandarin with no options: avsub's defaults against faster-whisper base int8 (the same
weights), CER and the Chinese subtitle rules, in one run.

    python bench/bench_chinese.py [--out bench/out/chinese] [--repeats 12] [--seed 0]

Makes the media once (bench/chinese_media.py: the AISHELL-1 clip repeated with pauses,
speed and pitch changes and noise, with its reference SRT; the bundled example clip is
scored too), runs `python caption.py MEDIA --out DIR` (no options: --model auto) and
`bench/faster_whisper_srt.py --model base` (beam 5, 2 threads, language detected), each
as its own process, and scores both with score.py's code (CER, both sides simplified,
punctuation removed). Prints CER, the share of cues within every Chinese rule, the share
of cues written all in simplified characters, and wall times.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.chinese_media import make  # noqa: E402
from data.chinese_script import convert_script  # noqa: E402
from data.subtitles import read_subtitles  # noqa: E402
from evaluation.scoring import score_paths  # noqa: E402

EXAMPLE = ROOT / "examples" / "aishell1_BAC009S0764W0121.wav"


def run(command: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def simplified_share(folder: Path) -> float:
    cues = [c for path in sorted(folder.glob("*.srt")) for c in read_subtitles(path)]
    return 100 * sum(c.text == convert_script(c.text, "simplified") for c in cues) / len(cues)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "chinese")
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    media_dir = args.out / "media"
    long_media = media_dir / f"mandarin-{args.repeats}x-seed{args.seed}.wav"
    if not long_media.exists():
        make(media_dir, args.repeats, args.seed)
    refs = args.out / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / long_media.with_suffix(".srt").name).write_bytes(
        long_media.with_suffix(".srt").read_bytes()
    )
    (refs / f"{EXAMPLE.stem}.srt").write_bytes(EXAMPLE.with_suffix(".srt").read_bytes())
    files = [str(long_media), str(EXAMPLE)]
    systems = {
        "avsub (no options)": [sys.executable, "caption.py", *files, "--out", str(args.out / "avsub"), "--overwrite", "--quiet"],
        "faster-whisper base int8": [sys.executable, "bench/faster_whisper_srt.py", *files, "--out", str(args.out / "faster-whisper"), "--model", "base"],
    }  # fmt: skip
    print("| system | CER % | cues | all Chinese rules % | simplified % | wall s |")
    print("|---|---|---|---|---|---|")
    for (name, command), folder in zip(systems.items(), ("avsub", "faster-whisper"), strict=True):
        wall = run(command)
        report = score_paths(args.out / folder, refs, ["cer"], use_java=False)
        layout = report["layout"]["corpus"]
        print(
            f"| {name} | {report['corpus']['cer']:.2f} | {layout['cues']} | "
            f"{layout['rule_all']:.1f} | {simplified_share(args.out / folder):.1f} | {wall:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
