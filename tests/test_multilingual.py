"""Multilingual Whisper checkpoints: language tokens, detection, --language and --task."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from model.checkpoint import load_model
from model.search import detect_language
from tests.conftest import ROOT
from tests.media_factory import make_audio, tone
from tests.whisper_fixtures import (
    TINY_DIMS,
    multilingual_tokenizer_json,
    random_whisper_state,
    write_ct2_directory,
)


def biased_multilingual_model(folder, language: str):
    """A tiny random multilingual model whose first prediction is always `language`'s token:
    the final LayerNorm outputs that token's embedding, whose logit then dominates."""
    state = random_whisper_state(TINY_DIMS, seed=1)
    tokenizer_json = multilingual_tokenizer_json()
    write_ct2_directory(folder, state, TINY_DIMS, tokenizer_json, float16=False)
    loaded = load_model(str(folder), "cpu")
    language_id = loaded.tokenizer.language_tokens[language]
    state["decoder.ln.weight"] = torch.zeros_like(state["decoder.ln.weight"])
    state["decoder.ln.bias"] = state["decoder.token_embedding.weight"][language_id] * 1000
    write_ct2_directory(folder, state, TINY_DIMS, tokenizer_json, float16=False)
    return load_model(str(folder), "cpu")


def test_start_sequences_follow_whisper(tmp_path):
    loaded = biased_multilingual_model(tmp_path / "m", "de")
    tok = loaded.tokenizer
    assert tok.sot == 50258 and tok.language_tokens["en"] == 50259 and tok.transcribe == 50359
    assert tok.sot_sequence("fr", "translate", True) == [50258, tok.language_tokens["fr"], 50358]
    assert tok.sot_sequence("en", "transcribe", False) == [50258, 50259, 50359, 50363]
    with pytest.raises(ValueError, match="unknown language"):
        tok.sot_sequence("xx", "transcribe", True)


def test_language_is_detected_from_the_first_window(tmp_path):
    loaded = biased_multilingual_model(tmp_path / "m", "de")
    mel = torch.zeros(2, 80, 3000)
    with torch.no_grad():
        cross = loaded.model.encode(mel)
    assert detect_language(loaded.model, loaded.tokenizer, cross) == ["de", "de"]


@pytest.mark.parametrize("extra", [[], ["--language", "fr", "--task", "translate"]])
def test_caption_cli_runs_a_multilingual_checkpoint(tmp_path, extra):
    biased_multilingual_model(tmp_path / "m", "de")
    media = make_audio(str(tmp_path / "tone.wav"), tone(440, 2.0), 16000)
    out = tmp_path / "out"
    command = [
        sys.executable,
        str(ROOT / "caption.py"),
        media,
        "--out",
        str(out),
        "--model",
        str(tmp_path / "m"),
    ]
    result = subprocess.run(
        command + ["--beam-size", "1", "--quiet", *extra], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert (out / "tone.srt").exists()


def test_unknown_language_is_a_usage_error(tmp_path):
    biased_multilingual_model(tmp_path / "m", "de")
    command = [
        sys.executable,
        str(ROOT / "caption.py"),
        str(tmp_path),
        "--out",
        str(tmp_path / "o"),
    ]
    result = subprocess.run(
        command + ["--model", str(tmp_path / "m"), "--language", "xx"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "unknown language 'xx'" in result.stderr
