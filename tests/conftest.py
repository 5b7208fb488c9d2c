"""Shared fixtures: the default model is loaded once per test session (about 3 s)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = ROOT.parent / "shared" / "media"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def default_model():
    from model.checkpoint import load_model

    return load_model("default", "cpu")


@pytest.fixture(scope="session")
def jfk_audio():
    from data.media import load_audio

    return load_audio(SHARED_MEDIA / "jfk.flac")
