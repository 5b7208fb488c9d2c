"""Keeps the web server's temporary tree from growing: a sweep on a timer, and at once
after a client drops an upload.

Gradio's upload folder holds, at its top level, the files uploads are being written to
(`tmp*`, renamed into a folder named by their hash when complete), and in hash folders the
completed uploads and Gradio's copies of what the callbacks returned. A sweep removes:

- partial uploads (and any other top-level temporary file): files this process no longer
  has open;
- uploads that no waiting or running request uses: `keep_unused` seconds after they were
  uploaded, or `keep_outputs` after a request last used them (the page plays them);
- Gradio's copies of outputs and our own request folders: `keep_outputs` seconds old.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("avsub.web")

SWEEP_SECONDS = 60  # time between sweeps
KEEP_UNUSED_SECONDS = 600  # an upload no request uses: time to press the button, then to watch
KEEP_OUTPUTS_SECONDS = 3600  # time to download what a request returned
# A file this new may be between Gradio's writing and its renaming (a sweep from the timer's
# thread; one on the server's event loop, after a dropped upload, cannot fall in between).
GRACE_SECONDS = 2.0


def _open_files() -> set[str] | None:
    """Files this process has open (Linux /proc), or None where that cannot be known."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    found = set()
    for fd in fds:
        try:
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return found


def _is_hash_folder(path: Path) -> bool:
    return (
        path.is_dir() and len(path.name) == 64 and all(c in "0123456789abcdef" for c in path.name)
    )


class Janitor:
    """Sweeps `uploads` (Gradio's upload folder) and `outputs` (a web.OutputFolders).

    in_use(): resolved paths that waiting or running requests will read; last_used: path ->
    time a request last finished with it (kept by the caller)."""

    def __init__(
        self,
        uploads: Path,
        outputs,
        in_use: Callable[[], set[str]],
        keep_unused: float = KEEP_UNUSED_SECONDS,
        keep_outputs: float = KEEP_OUTPUTS_SECONDS,
    ):
        self.uploads = Path(uploads)
        self.outputs = outputs
        self.in_use = in_use
        self.keep_unused, self.keep_outputs = keep_unused, keep_outputs
        self.last_used: dict[str, float] = {}
        self.uploaded: set[str] = set()  # Gradio's upload set, read each sweep
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def used(self, path: str | Path) -> None:
        """A request has finished with `path`: it is kept `keep_outputs` from now."""
        self.last_used[str(Path(path).resolve())] = time.time()

    def remove_partials(self) -> int:
        """Remove the top-level files of dropped uploads; how many were removed."""
        gc.collect()  # the dropped upload's temporary file object closes its file
        with self._lock:
            return self._sweep_partials(time.time(), _open_files(), grace=0.0)

    def _sweep_partials(
        self, now: float, open_files: set[str] | None, grace: float = GRACE_SECONDS
    ) -> int:
        removed = 0
        for path in self.uploads.glob("tmp*"):
            try:
                age = now - path.stat().st_mtime
                if open_files is not None:  # an upload still being written keeps it open
                    gone = str(path.resolve()) not in open_files and age >= grace
                else:
                    gone = age >= self.keep_unused
                if path.is_file() and gone:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    def sweep(self) -> int:
        """One full sweep; how many files and folders were removed."""
        now, open_files = time.time(), _open_files()
        with self._lock:
            removed = self._sweep_partials(now, open_files)
            in_use = self.in_use()
            for folder in [p for p in self.uploads.iterdir() if _is_hash_folder(p)]:
                for path in list(folder.iterdir()):
                    removed += self._sweep_file(path, now, in_use, open_files)
                try:
                    folder.rmdir()  # only when empty
                    removed += 1
                except OSError:
                    pass
            self.last_used = {
                p: t for p, t in self.last_used.items() if now - t < self.keep_outputs
            }
            removed += self.outputs.remove_stale()
        return removed

    def _sweep_file(self, path: Path, now: float, in_use: set[str], open_files) -> int:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return 0
        key = str(path.resolve())
        age = now - stat.st_mtime
        if key in in_use or age < GRACE_SECONDS or (open_files and key in open_files):
            return 0
        if key in self.last_used:
            expired = now - self.last_used[key] >= self.keep_outputs
        elif key in self.uploaded or str(path) in self.uploaded:
            expired = age >= self.keep_unused
        else:  # Gradio's copy of an output
            expired = age >= self.keep_outputs
        if expired:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            self.uploaded.discard(str(path))
            return 1
        return 0

    def run(self, period: float = SWEEP_SECONDS) -> threading.Thread:
        """Sweep every `period` seconds in a daemon thread, until stop()."""

        def loop():
            while not self._stop.wait(period):
                try:
                    self.sweep()
                except OSError as error:  # e.g. the tree removed at shutdown
                    log.warning("cleaning %s: %s", self.uploads, error)

        thread = threading.Thread(target=loop, name="avsub-janitor", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
