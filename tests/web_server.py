"""Start `serve.py` as a subprocess on a free port, for the API and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120  # seconds: imports, model load and Gradio start take about 15 s here


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path
    uploads: Path  # Gradio's upload folder (GRADIO_TEMP_DIR)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def running_server(*options: str):
    """serve.py on CPU with `options`, until the block ends; fails with its log if it
    does not come up."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="avsub-test-serve-") as folder:
        log_path, uploads = Path(folder) / "serve.log", Path(folder) / "gradio"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "serve.py", "--port", str(port), "--device", "cpu", *options],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "GRADIO_TEMP_DIR": str(uploads)},
            )
        server = Server(f"http://127.0.0.1:{port}/", process, log_path, uploads)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _answers(server.url):
                if process.poll() is not None:
                    pytest.fail(f"serve.py exited with {process.returncode}:\n{server.log()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"serve.py did not answer in {START_TIMEOUT} s:\n{server.log()}")
                time.sleep(0.5)
            yield server
        finally:
            process.terminate()  # serve.py closes as on Ctrl-C and removes its work folder
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
