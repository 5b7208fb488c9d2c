"""Lost speech: runs of 4 or more consecutive reference words missing from the output, and
WER, for avsub and faster-whisper on media whose every spoken word is known.

    python bench/bench_lost_speech.py                 # 40 clips, ~33 min, plus jfk
    python bench/bench_lost_speech.py --count 8       # a quick look

The set (bench/lost_speech_media.py, made once into bench/out/lost-speech/): sentence pairs
with pauses of 0.2-2 s, hesitations with fillers, ten espeak-ng voices at 130-220 words a
minute, clean or under white/pink noise at 20/10/5 dB SNR or a music bed at 10 dB; plus the
real recordings there are (shared/media/jfk.flac, examples/jfk.mp4).

Systems, each a fresh process over all files, one after the other in this run:
- avsub: `caption.py FILES --out DIR --model tiny.en`, its defaults otherwise (the same
  weights as faster-whisper's; `--model auto` would send English files to the same model,
  but its language detection takes some accented espeak-ng voices for other languages);
- avsub `--no-vad`: Whisper's sequential loop;
- faster-whisper tiny.en (the same weights), int8, beam 5, 2 threads: sequential
  `transcribe` and `BatchedInferencePipeline` (batch 8), through bench/bench_speed.py.
A run is counted from jiwer's word alignment (bench/lost_runs.py); every lost run is printed
with its file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.lost_runs import MIN_RUN, lost_runs  # noqa: E402
from bench.lost_speech_media import build_set  # noqa: E402
from bench.process_meter import run_measured  # noqa: E402

OUT = ROOT / "bench" / "out" / "lost-speech"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
REAL = {
    ROOT.parent / "shared" / "media" / "jfk.flac": JFK_TEXT,
    ROOT / "examples" / "jfk.mp4": JFK_TEXT,
}


def avsub_texts(files: list[Path], extra: list[str]) -> tuple[list[str], float]:
    from data.subtitles import read_subtitles

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        # Files of the same name (jfk.flac, jfk.mp4) get their own output folder.
        groups: dict[Path, list[Path]] = {}
        for f in files:
            groups.setdefault(f.parent, []).append(f)
        wall = 0.0
        texts = {}
        for n, (_, group) in enumerate(groups.items()):
            command = [sys.executable, str(ROOT / "caption.py"), *map(str, group)]
            command += ["--out", str(out / str(n)), "--quiet", *extra]
            measured = run_measured(command, cwd=ROOT)
            if measured.returncode != 0:
                raise SystemExit(f"caption.py {' '.join(extra)} failed:\n{measured.stderr[-3000:]}")
            wall += measured.wall_seconds
            for f in group:
                cues = read_subtitles(out / str(n) / f"{f.stem}.srt")
                texts[f] = " ".join(c.text for c in cues)
    return [texts[f] for f in files], wall


def faster_whisper_texts(files: list[Path], mode: str) -> tuple[list[str], float]:
    command = [sys.executable, str(ROOT / "bench" / "bench_speed.py"), "--fw-child", mode]
    measured = run_measured(command + [str(f) for f in files], cwd=ROOT)
    if measured.returncode != 0:
        raise SystemExit(f"faster-whisper {mode} failed:\n{measured.stderr[-3000:]}")
    return json.loads(measured.stdout.strip().splitlines()[-1])["texts"], measured.wall_seconds


SYSTEMS = {
    "avsub": lambda files: avsub_texts(files, ["--model", "tiny.en"]),
    "avsub --no-vad": lambda files: avsub_texts(files, ["--model", "tiny.en", "--no-vad"]),
    "faster-whisper sequential": lambda files: faster_whisper_texts(files, "sequential"),
    "faster-whisper batched 8": lambda files: faster_whisper_texts(files, "8"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=40, help="synthetic clips (default 40)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    clips = build_set(args.out, count=args.count)
    files = [args.out / f"{c.name}.mp4" for c in clips] + list(REAL)
    references = [c.text for c in clips] + list(REAL.values())
    conditions = [c.condition for c in clips] + ["real speech"] * len(REAL)
    minutes = sum(c.seconds for c in clips) / 60
    print(
        f"{len(files)} files: {len(clips)} synthetic clips ({minutes:.1f} min) + {len(REAL)} real\n"
    )

    rows = []
    for name in args.systems.split(","):
        texts, wall = SYSTEMS[name](files)
        runs, errors, words = [], 0, 0
        for path, ref, hyp, condition in zip(files, references, texts, conditions, strict=True):
            result = lost_runs(ref, hyp)
            errors, words = errors + result.errors, words + result.words
            runs += [(path.name, condition, run) for run in result.runs]
        rows.append((name, len(runs), 100 * errors / words, wall))
        print(f"{name}: {len(runs)} lost runs, WER {100 * errors / words:.2f}%", flush=True)
        for file, condition, run in runs:
            print(f"  {name}: {file} ({condition}) lost: {run}")
    print(f"\n| system | lost runs ({MIN_RUN}+ words) | WER % | wall |")
    print("|---|---|---|---|")
    for name, lost, wer, wall in rows:
        print(f"| {name} | {lost} | {wer:.2f} | {wall:.0f} s |")


if __name__ == "__main__":
    main()
