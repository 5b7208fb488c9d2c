"""Shared fixtures: the default model is loaded once per test session (about 3 s)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = ROOT.parent / "shared" / "media"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(2)

# System tools some tests need; the README's test command installs them
# (scripts/install-test-deps.sh), so a missing one is a failure, never a skip.
SYSTEM_TOOLS = {"java": "openjdk-17-jre-headless", "espeak-ng": "espeak-ng", "chromium": "chromium"}
INSTALL_HINT = "run `bash scripts/install-test-deps.sh` (the README's test command does)"


def pytest_runtest_setup(item):
    """Fails a test marked `needs_tool("java")` (say) before its fixtures run when the tool
    is not on PATH."""
    for marker in item.iter_markers("needs_tool"):
        (tool,) = marker.args
        if shutil.which(tool) is None:
            pytest.fail(
                f"{tool} not found: this test needs Debian's {SYSTEM_TOOLS[tool]}; {INSTALL_HINT}",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def default_model():
    from model.checkpoint import load_model

    return load_model("default", "cpu")


@pytest.fixture(scope="session")
def fast_default_model():
    """tiny.en as caption.py runs it on a CPU by default (int8 decoder layers, bfloat16
    where the CPU has it)."""
    from app.model_args import for_cpu
    from model.checkpoint import load_model

    return for_cpu(load_model("tiny.en", "cpu", captioning_only=True))


@pytest.fixture(scope="session")
def jfk_audio():
    from data.media import load_audio

    return load_audio(SHARED_MEDIA / "jfk.flac")
