"""`--model auto` against `--model tiny.en`: a mixed folder in its languages, English output
byte for byte, and what detection costs an English folder.

    python bench/bench_auto.py [--out bench/out/auto] [--minutes 1] [--files 4] [--rounds 2]

1. Mixed folder (made once under OUT/mixed): shared/media/jfk.flac (English, real),
   examples/aishell1_BAC009S0764W0121.wav (Mandarin, real) and a Spanish sentence spoken
   by espeak-ng (`es` voice: the only Spanish speech available offline). caption.py with no
   options and with `--model tiny.en`; prints each file's language and model (from the JSON
   output) and whether the English outputs are identical.
2. English folder: examples/jfk.mp4 and FILES espeak-ng speech videos of MINUTES each
   (bench/media_cache.py), subtitled ROUNDS times by each setting, alternating; prints the
   best wall time and the process CPU time (user + system, children included) of each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.media_cache import cached_speech_video  # noqa: E402

SPANISH = (
    "Buenos días. El gobierno anunció hoy un nuevo plan para mejorar el transporte público "
    "en la ciudad. Los ciudadanos podrán viajar más rápido y a menor costo."
)


def shared_media() -> Path:
    for base in (ROOT, ROOT.parent):
        if (base / "shared" / "media" / "jfk.flac").exists():
            return base / "shared" / "media"
    raise SystemExit("shared/media not found")


def mixed_folder(out: Path) -> Path:
    folder = out / "mixed"
    if (folder / "es_transporte.wav").exists():
        return folder
    from data.media import load_audio
    from tests.media_factory import make_audio

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_media() / "jfk.flac", folder / "jfk.flac")
    shutil.copyfile(ROOT / "examples" / "aishell1_BAC009S0764W0121.wav", folder / "zh_aishell.wav")
    raw = out / "es_raw.wav"
    subprocess.run(["espeak-ng", "-v", "es", "-w", str(raw), SPANISH], check=True)
    make_audio(folder / "es_transporte.wav", load_audio(raw))
    return folder


def caption(inputs: list[Path], out: Path, *flags: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one caption.py run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    command = [sys.executable, "caption.py", *map(str, inputs), "--out", str(out)]
    subprocess.run([*command, "--overwrite", "--quiet", *flags], check=True, cwd=ROOT)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "auto")
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    mixed = mixed_folder(args.out)
    caption([mixed], args.out / "mixed-auto", "--format", "srt,json")
    caption([mixed], args.out / "mixed-tiny", "--format", "srt", "--model", "tiny.en")
    print("| file | language | model | first cue |\n|---|---|---|---|")
    for path in sorted((args.out / "mixed-auto").glob("*.json")):
        output = json.loads(path.read_text())  # {"cues": [...], "language", "model", ...}
        first = output["cues"][0]["text"] if output["cues"] else ""
        print(f"| {path.stem} | {output['language']} | {output['model']} | {first!r} |")
    same = (args.out / "mixed-auto" / "jfk.srt").read_bytes() == (
        args.out / "mixed-tiny" / "jfk.srt"
    ).read_bytes()
    print(f"\nEnglish output identical to --model tiny.en's: {same}\n")

    cache = Path(os.environ.get("AVSUB_BENCH_MEDIA", ROOT / "bench" / "out" / "speech-media"))
    english = [ROOT / "examples" / "jfk.mp4"]
    english += [
        cached_speech_video(cache, args.minutes * 60, seed)[0] for seed in range(args.files)
    ]
    best = {"tiny.en": [float("inf"), float("inf")], "auto": [float("inf"), float("inf")]}
    for _ in range(args.rounds):
        for name in best:
            wall, cpu = caption(english, args.out / f"english-{name}", "--model", name)
            best[name] = [min(best[name][0], wall), min(best[name][1], cpu)]
    seconds = len(english)
    print(
        f"English folder: {seconds} files ({args.files} x {args.minutes:g} min + jfk), best of {args.rounds}"
    )
    print("| model | wall s | CPU s |\n|---|---|---|")
    for name, (wall, cpu) in best.items():
        print(f"| {name} | {wall:.1f} | {cpu:.1f} |")
    ratio = best["auto"][0] / best["tiny.en"][0]
    print(f"\nauto / tiny.en: wall {ratio:.3f}, CPU {best['auto'][1] / best['tiny.en'][1]:.3f}")


if __name__ == "__main__":
    main()
