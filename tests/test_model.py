"""The model: the visual gates, batched vs single decoding, checkpoints and imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.attention import is_key_major
from model.audio import encoder_positions, window_mel
from model.captioner import AVCaptioner
from model.checkpoint import load_model, save_checkpoint
from model.config import ModelConfig
from model.decoder import CrossCache
from model.search import DecodingOptions, decode_windows, top_k_rows
from tests.whisper_fixtures import (
    TINY_DIMS,
    multilingual_tokenizer_json,
    random_whisper_state,
    write_ct2_directory,
    write_openai_pt,
)


def tiny_config(**changes) -> ModelConfig:
    return ModelConfig(**{**TINY_DIMS, "n_vocab": 1000, "n_text_ctx": 64, **changes})


def random_inputs(batch=2, n_frames=5, seed=0, frame_size=64):
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(batch, 80, 3000, generator=g)
    shape = (batch, n_frames, frame_size, frame_size, 3)
    frames = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    times = torch.arange(n_frames).float().expand(batch, -1)
    tokens = torch.randint(0, 1000, (batch, 12), generator=g)
    return mel, frames, times, tokens


def test_gates_at_zero_make_frames_irrelevant_and_skip_the_resnet():
    torch.manual_seed(0)
    model = AVCaptioner(tiny_config()).eval()
    mel, frames, times, tokens = random_inputs()
    audio_only = model(mel, tokens)
    calls = []
    model.frame_encoder.trunk.register_forward_hook(lambda *a: calls.append(1))
    with_frames = model(mel, tokens, frames, times)
    assert (with_frames - audio_only).abs().max().item() < 1e-5
    assert not calls, "the ResNet ran although every gate is 0"
    # In training the branch runs (so the gates get gradients) and still adds nothing.
    model.train()
    assert (model(mel, tokens, frames, times) - audio_only).abs().max().item() < 1e-5
    assert calls


def test_a_nonzero_gate_makes_the_frames_matter():
    torch.manual_seed(0)
    model = AVCaptioner(tiny_config()).eval()
    mel, frames, times, tokens = random_inputs()
    audio_only = model(mel, tokens)
    with torch.no_grad():
        model.decoder.blocks[0].visual_attn_gate.fill_(0.5)
    assert model.uses_vision()
    with_frames = model(mel, tokens, frames, times)
    other_frames = model(mel, tokens, 255 - frames, times)
    assert (with_frames - audio_only).abs().max().item() > 1e-3
    assert (with_frames - other_frames).abs().max().item() > 1e-4


def test_gate_parity_holds_for_the_default_model(default_model, jfk_audio):
    model = default_model.model
    mel = window_mel(jfk_audio)[None]
    tokens = torch.tensor([default_model.tokenizer.encode(" And so my fellow Americans")])
    frames = torch.randint(0, 256, (1, 11, 224, 224, 3), dtype=torch.uint8)
    times = torch.arange(11).float()[None]
    with torch.no_grad():
        diff = (model(mel, tokens, frames, times) - model(mel, tokens)).abs().max().item()
    assert diff < 1e-5


@pytest.mark.parametrize("beam_size", [2, 5])
@pytest.mark.parametrize("shortest", [2, 1])
@pytest.mark.parametrize("trimmed", [False, True])
@pytest.mark.parametrize("keys", ["float32", "bfloat16"])
def test_batched_and_single_decoding_agree(
    default_model, jfk_audio, beam_size, shortest, trimmed, keys
):
    """Windows with prompts of different lengths decode in one batch as they do alone,
    also when the short ones finish first and leave the batch (shortest in the middle:
    the windows left are two runs, attended in pieces). trimmed: each window encoded over
    its own audio and 2 s after it (as the batch pipeline does on a CPU), the batch's
    shorter ones masked beyond their length, decodes as it does alone at that length.
    keys: the encoder keys/values as caption.py holds them on a CPU with native bfloat16
    (key-major, attended as two batched products) or in float32 (PyTorch's SDPA)."""
    model, tok = default_model.model, default_model.tokenizer
    model.decoder.cross_dtype = torch.bfloat16 if keys == "bfloat16" else None
    try:
        _batched_and_single_decoding_agree(model, tok, jfk_audio, beam_size, shortest, trimmed)
    finally:
        model.decoder.cross_dtype = None


def _batched_and_single_decoding_agree(model, tok, jfk_audio, beam_size, shortest, trimmed):
    starts = [0, 4, 8] if shortest == 2 else [0, 8, 4]  # seconds cut from the speech
    audios = [jfk_audio[16000 * s :] for s in starts]
    mels = torch.stack([window_mel(a) for a in audios])
    positions = [encoder_positions(len(a) // 160, 2.0 if trimmed else None) for a in audios]
    prompts = [[], tok.encode(" We choose to go to the moon."), []]
    options = DecodingOptions(beam_size=beam_size)
    sot = tok.sot_sequence(None, "transcribe", True)
    with torch.no_grad():
        alone = [model.encode(mels[i : i + 1, :, : 2 * positions[i]]) for i in range(3)]
        cross = CrossCache.join(alone, 3, max(positions) if trimmed else None)
        batched = decode_windows(model, tok, cross, sot, prompts, options, 0.0)
        single = [
            decode_windows(model, tok, alone[i], sot, [prompts[i]], options, 0.0)[0]
            for i in range(3)
        ]
    assert (cross.audio_mask is not None) == trimmed
    assert is_key_major(cross.audio[0][0]) == (model.decoder.cross_dtype is not None)
    if trimmed:
        assert positions[shortest] < positions[0] < 1500
    for b, s in zip(batched, single, strict=True):
        assert b.tokens == s.tokens
        # bfloat16: a longer (masked, zero) key span changes the products' summation
        # order, and outputs round to 8 bits of mantissa
        tolerance = 1e-4 if model.decoder.cross_dtype is None else 1e-3
        assert b.avg_logprob == pytest.approx(s.avg_logprob, abs=tolerance)
    middle = 3 - shortest
    assert "fellow Americans" in batched[0].text
    assert "fellow" not in batched[middle].text and "your country" in batched[middle].text
    assert len(batched[shortest].tokens) < len(batched[middle].tokens)  # it left early


def test_a_captioning_model_with_closed_gates_skips_the_resnet(default_model, jfk_audio):
    """caption.py and serve.py load with captioning_only: no ResNet is built (nor
    torchvision imported) when every visual gate is 0, and the logits stay the same."""
    light = load_model("default", "cpu", captioning_only=True)
    assert light.model.frame_encoder.trunk is None
    assert not light.model.uses_vision()
    mel = window_mel(jfk_audio)[None]
    tokens = torch.tensor([default_model.tokenizer.encode(" And so my fellow Americans")])
    with torch.no_grad():
        assert torch.equal(light.model(mel, tokens), default_model.model(mel, tokens))


def test_a_checkpoint_with_open_gates_keeps_its_resnet(tmp_path, default_model):
    model = AVCaptioner(tiny_config()).eval()
    with torch.no_grad():
        model.decoder.blocks[0].visual_attn_gate.fill_(0.5)
    save_checkpoint(model, default_model.tokenizer, tmp_path / "open")
    loaded = load_model(str(tmp_path / "open"), "cpu", captioning_only=True).model
    assert loaded.frame_encoder.trunk is not None
    mel, frames, times, tokens = random_inputs()
    with torch.no_grad():
        assert torch.equal(loaded(mel, tokens, frames, times), model(mel, tokens, frames, times))


def test_top_k_rows_equals_topk():
    """Beam search's blockwise top-k: torch.topk's values and indices, wherever the largest
    lie (several in one block, in the last partial block, among -inf), and for rows
    narrower than k blocks."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 51864, generator=g)
    x[0, 100:106] = 50.0 + torch.arange(6.0)  # all six in one block
    x[1, -3:] = 60.0  # in the last, partial block (51864 = 810 * 64 + 24)
    x[1, -3:] += torch.arange(3.0)
    x[2, 1000:] = -torch.inf  # suppressed tokens
    for rows in (x, x[:, :200]):
        values, indices = top_k_rows(rows, 6)
        expected = rows.topk(6, dim=-1)
        assert torch.equal(values, expected.values) and torch.equal(indices, expected.indices)


@pytest.mark.parametrize("rows_per_window", [1, 5])
def test_key_major_attention_equals_sdpa(rows_per_window):
    """Keys held key-major are attended by two batched products (model/attention.py): the
    same output as PyTorch's SDPA over the same keys, masked or not, one row per window
    or beams sharing a window; CrossCache keeps the layout when it picks rows."""
    import torch.nn.functional as F

    from model.attention import _attend, key_major

    g = torch.Generator().manual_seed(0)
    windows, heads, length, width = 3, 6, 40, 64
    q = torch.randn(windows * rows_per_window, heads, 1, width, generator=g)
    k = torch.randn(windows, length, heads, width, generator=g).transpose(1, 2)
    v = torch.randn(windows, heads, length, width, generator=g)
    mask = torch.ones(windows, 1, 1, length, dtype=torch.bool)
    mask[1, ..., 25:] = False
    major = key_major(k)
    assert is_key_major(major) and not is_key_major(k) and torch.equal(major, k)
    for m in (None, mask):
        expected = F.scaled_dot_product_attention(
            q.view(windows, rows_per_window, heads, width).transpose(1, 2),
            k,
            v,
            attn_mask=m,
        )  # (W, H, rows, width): each window's rows as its queries
        expected = expected.transpose(1, 2).reshape(windows * rows_per_window, heads, 1, width)
        assert torch.allclose(_attend(q, major, v, m, False), expected, atol=1e-5)
    cache = CrossCache([(major, v)], None, None)
    picked = cache.index_select(torch.tensor([2, 0]))
    assert is_key_major(picked.audio[0][0]) and torch.equal(picked.audio[0][0], k[[2, 0]])


@pytest.mark.parametrize("native", [True, False])
def test_caption_holds_keys_and_by_default_the_encoder_in_bfloat16_where_native(
    monkeypatch, native
):
    """On a CPU with bfloat16 instructions: the encoder keys/values always, the audio
    encoder too unless --float32 (model/cpu_precision.py). Without them: float32 throughout."""
    import argparse

    import model.cpu_precision
    from app.model_args import load_model_from_args

    monkeypatch.setattr(model.cpu_precision, "native_bfloat16", lambda: native)
    held = []
    for float32 in (True, False):
        args = argparse.Namespace(model="default", device="cpu", tokenizer=None, float32=float32)
        loaded = load_model_from_args(args, "x").model
        held.append((loaded.decoder.cross_dtype, loaded.encoder.conv1.weight.dtype))
    if native:
        assert held == [(torch.bfloat16, torch.float32), (torch.bfloat16, torch.bfloat16)]
    else:
        assert held == [(None, torch.float32), (None, torch.float32)]


def test_caption_start_up_does_not_import_torchvision():
    code = (
        "import sys; from app.model_args import load_model_from_args; import argparse; "
        "args = argparse.Namespace(model='default', device='cpu', tokenizer=None, float32=False); "
        "assert load_model_from_args(args, 'x') is not None; "
        "print('torchvision' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_checkpoint_round_trip_keeps_logits_and_never_pickles(tmp_path, default_model):
    model, tok = default_model.model, default_model.tokenizer
    with torch.no_grad():
        model.decoder.blocks[1].visual_mlp_gate.fill_(0.25)
    try:
        folder = save_checkpoint(model, tok, tmp_path / "ckpt")
        assert sorted(p.name for p in folder.iterdir()) == [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
        ]
        assert json.loads((folder / "config.json").read_text())["model"]["n_text_layer"] == 4
        again = load_model(str(folder), "cpu")
        mel, frames, times, _ = random_inputs(batch=1, n_frames=3, frame_size=224)
        tokens = torch.tensor([[tok.sot, 843, 523]])
        with torch.no_grad():
            expected = model(mel, tokens, frames, times)
            got = again.model(mel, tokens, frames, times)
        assert again.model.uses_vision()
        assert torch.allclose(expected, got, atol=1e-5)
    finally:
        with torch.no_grad():
            model.decoder.blocks[1].visual_mlp_gate.zero_()


def test_ctranslate2_and_openai_formats_load_the_same_weights(tmp_path):
    state = random_whisper_state(TINY_DIMS)
    tokenizer = multilingual_tokenizer_json()
    ct2 = load_model(
        str(write_ct2_directory(tmp_path / "ct2", state, TINY_DIMS, tokenizer, float16=False)),
        "cpu",
    )
    (tmp_path / "pt").mkdir()
    (tmp_path / "pt" / "tokenizer.json").write_text(tokenizer)
    pt = load_model(str(write_openai_pt(tmp_path / "pt" / "tiny.pt", state, TINY_DIMS)), "cpu")
    for name, value in state.items():
        assert torch.equal(ct2.model.state_dict()[name], value), name
        assert torch.equal(pt.model.state_dict()[name], value), name
    assert (
        ct2.tokenizer.multilingual
        and ct2.tokenizer.eot == 50257
        and ct2.tokenizer.timestamp_begin == 50364
    )
    assert not ct2.model.uses_vision()


def test_float16_ctranslate2_weights_are_read_as_float32(tmp_path):
    state = random_whisper_state(TINY_DIMS)
    folder = write_ct2_directory(
        tmp_path / "ct2", state, TINY_DIMS, multilingual_tokenizer_json(), float16=True
    )
    loaded = load_model(str(folder), "cpu").model.state_dict()
    for name, value in state.items():
        assert loaded[name].dtype == torch.float32
        assert torch.equal(loaded[name], value.half().float()), name


def test_model_errors_name_the_path(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_model(str(tmp_path / "missing"), "cpu")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "model.bin").write_bytes(b"\x06\x00\x00\x00garbage")
    (tmp_path / "junk" / "tokenizer.json").write_text(multilingual_tokenizer_json())
    with pytest.raises(ValueError, match="junk.*not a readable CTranslate2"):
        load_model(str(tmp_path / "junk"), "cpu")


def test_frame_encoder_loads_local_resnet_weights_without_pickle(tmp_path):
    import torchvision
    from safetensors.torch import save_file

    from model.frames import FrameEncoder

    source = torchvision.models.resnet18(weights=None)
    save_file(source.state_dict(), tmp_path / "resnet18.safetensors")
    encoder = FrameEncoder("resnet18", 64)
    encoder.load_trunk_weights(str(tmp_path / "resnet18.safetensors"))
    for name, value in encoder.trunk.state_dict().items():
        assert torch.equal(value, source.state_dict()[name]), name
    with pytest.raises(ValueError, match="must be a .safetensors file"):
        encoder.load_trunk_weights(str(tmp_path / "resnet18.pth"))
