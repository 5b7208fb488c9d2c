"""The systems the readable-subtitles bench compares, each run as its own process over all
files of the set, so its wall time counts start-up, model loading and every file."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CAPTION = [sys.executable, str(ROOT / "caption.py")]
CAPTION_OPTIONS = ["--format", "srt", "--device", "cpu", "--overwrite", "--quiet"]
FASTER_WHISPER = [sys.executable, str(ROOT / "bench" / "faster_whisper_srt.py")]

# name -> (command before the files, options after them); "--out DIR" is added last.
SYSTEMS = {
    "avsub": (CAPTION, CAPTION_OPTIONS),
    "avsub --no-vad": (CAPTION, [*CAPTION_OPTIONS, "--no-vad"]),
    "faster-whisper": (FASTER_WHISPER, []),
    "faster-whisper vad": (FASTER_WHISPER, ["--vad"]),
}


def system_folder(name: str) -> str:
    return name.replace(" --", "_").replace(" ", "_").replace("-", "_")


def run_system(name: str, files: list[Path], out: Path) -> float:
    """Run system `name` over `files` writing SRTs into `out`; returns its wall time."""
    head, options = SYSTEMS[name]
    out.mkdir(parents=True, exist_ok=True)
    command = [*head, *map(str, files), *options, "--out", str(out)]
    print(f"running {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    with open(out / "run.log", "w") as log:
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}); see {out / 'run.log'}")
    (out / "wall.json").write_text(json.dumps({"seconds": seconds, "command": command}) + "\n")
    return seconds
