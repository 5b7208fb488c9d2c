"""Run a command as a user would and measure it from outside: wall time and peak resident
memory (RSS) of the process and its children, sampled with psutil.

Sampling every 20 ms can miss an allocation that lives for less than that; model weights,
decoded audio and batches live for seconds, so the peak seen is the one that matters.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.02


@dataclass
class Measured:
    returncode: int
    wall_seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def _tree_rss(process: psutil.Process) -> int:
    """Bytes resident in `process` and every process it started (torchrun, workers)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass  # ended between listing and reading
    return total


def run_measured(
    command: list[str], cwd: Path | None = None, timeout: float = 6 * 3600
) -> Measured:
    """Run `command` to its end; stdout and stderr go to files, so a chatty child never
    blocks on a full pipe while it is being sampled."""
    out_path = Path(f"/tmp/process-meter-{time.time_ns()}")
    with open(f"{out_path}.out", "w+") as out, open(f"{out_path}.err", "w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err)
        watched = psutil.Process(child.pid)
        peak = 0
        while child.poll() is None:
            try:
                peak = max(peak, _tree_rss(watched))
            except psutil.NoSuchProcess:
                break
            if time.perf_counter() - start > timeout:
                child.kill()
            time.sleep(SAMPLE_SECONDS)
        returncode = child.wait()
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    return Measured(returncode, wall, peak / 2**20, stdout, stderr)
