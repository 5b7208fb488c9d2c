"""Training: LSTM decoder invariants, SentencePiece checkpoints, exact resume, DDP = one
process, Whisper fine-tuning of the visual branch only, caption.py on trained models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import caption
import train
from app.options import SubtitleOptions
from app.whisper_loop import caption_windows
from data import synthetic
from data.media import MediaReader
from data.subtitles import read_subtitles
from evaluation.subtitle_metrics import score_subtitles
from model.audio import AudioEncoder
from model.captioner import AVCaptioner
from model.checkpoint import load_model, save_checkpoint
from model.frames import FrameEncoder
from model.search import DecodingOptions, decode_windows
from model.sp_tokenizer import SentencePieceTokenizer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return synthetic.generate(root / "train", 12, seed=11), synthetic.generate(
        root / "val", 4, seed=12
    )


def tiny_args(tiny_sets, out, *more):
    train_set, val_set = tiny_sets
    return [
        "--data", str(train_set), "--val", str(val_set), "--out", str(out), "--width", "32",
        "--layers", "1", "--batch-size", "4", "--max-steps", "6", "--eval-every", "3",
        "--warmup", "2", "--lr", "3e-3", *more,
    ]  # fmt: skip


def tiny_lstm(tmp_path):
    texts = [synthetic.caption_text("red", "square", "up", "low", "once"), "a blue circle"]
    tok = SentencePieceTokenizer.train(texts * 3, tmp_path / "sp.model", vocab_size=60)
    config = train.scratch_config("lstm", tok.n_vocab, 32, 1, 0.0)
    config.suppress_ids = tok.suppress_ids()
    torch.manual_seed(0)
    return AVCaptioner(config).eval(), tok


def test_lstm_stepwise_equals_teacher_forced_and_batched_equals_single(tmp_path):
    model, tok = tiny_lstm(tmp_path)
    torch.manual_seed(1)
    mel = torch.randn(3, 80, 300)
    frames = torch.randint(0, 255, (3, 5, 64, 64, 3), dtype=torch.uint8)
    times = torch.arange(5).float().expand(3, 5) / 4
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1, 3:] = False
    mask[2] = False  # a row with no frames at all: audio only, no NaN
    with torch.no_grad():
        cross = model.encode(mel, frames, times, mask)
        tokens = torch.tensor([[tok.sot] + tok.encode("a red square")] * 3)
        full, _ = model.decoder(tokens, cross)  # (3, T, V)
        past, steps = None, []
        for t in range(tokens.shape[1]):
            logits, past = model.decoder(tokens[:, t : t + 1], cross, past)
            steps.append(logits)
    assert torch.isfinite(full).all()
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)
    for beam in (1, 3):
        options = DecodingOptions(beam_size=beam, without_timestamps=True, sample_len=8)
        together = decode_windows(model, tok, cross, [tok.sot], [[]] * 3, options, 0.0)
        for i in range(3):
            alone = decode_windows(
                model, tok, cross.index_select(torch.tensor([i])), [tok.sot], [[]], options, 0.0
            )[0]
            assert alone.tokens == together[i].tokens
            assert alone.avg_logprob == pytest.approx(together[i].avg_logprob, abs=1e-5)
    # The frames matter: other pictures give other logits.
    with torch.no_grad():
        other = model.decoder(tokens, model.encode(mel, 255 - frames, times, mask))[0]
    assert not torch.allclose(other[0], full[0])


def test_frame_summary_token_pools_present_frames_only():
    torch.manual_seed(0)
    encoder = FrameEncoder("convnet", 32, grid=2, n_layer=1, n_head=1, summary=True).eval()
    frames = torch.randint(0, 255, (1, 3, 64, 64, 3), dtype=torch.uint8)
    padded = torch.cat([frames, torch.randint(0, 255, (1, 2, 64, 64, 3), dtype=torch.uint8)], 1)
    times = torch.arange(5).float()[None] / 2
    mask = torch.tensor([[True, True, True, False, False]])
    with torch.no_grad():
        alone = encoder(frames, times[:, :3])  # (1, 3 + 1, 32)
        batched = encoder(padded, times, mask)  # (1, 5 + 1, 32)
    assert alone.shape == (1, 4, 32) and batched.shape == (1, 6, 32)
    torch.testing.assert_close(batched[:, :3], alone[:, :3], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched[:, -1], alone[:, -1], atol=1e-5, rtol=1e-5)
    no_frames = torch.zeros(1, 5, dtype=torch.bool)
    assert encoder.token_mask(mask).tolist() == [[True, True, True, False, False, True]]
    assert encoder.token_mask(no_frames).tolist() == [[False] * 6]
    with torch.no_grad():
        assert torch.isfinite(encoder(padded, times, no_frames)).all()


def test_audio_summary_token_is_the_time_average_of_the_encoder_output():
    torch.manual_seed(0)
    encoder = AudioEncoder(80, 150, 32, 2, 1, summary=True).eval()
    mel = torch.randn(3, 80, 300)
    with torch.no_grad():
        out = encoder(mel)  # (3, 150 + 1, 32)
        expected = encoder.summary_ln(encoder.summary_proj(out[:, :150].mean(dim=1)))
        alone = encoder(mel[1:2])
    assert out.shape == (3, 151, 32)
    torch.testing.assert_close(out[:, 150], expected)
    torch.testing.assert_close(alone, out[1:2], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out[0, 150], out[1, 150])  # it depends on the sound
    assert AudioEncoder(80, 150, 32, 2, 1)(mel).shape == (3, 150, 32)  # Whisper's: no token


def test_sentencepiece_checkpoint_round_trip(tmp_path):
    model, tok = tiny_lstm(tmp_path)
    text = "a red square moves up"
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode([tok.sot, *tok.encode(text), tok.eot]) == text
    save_checkpoint(model, tok, tmp_path / "ckpt")
    loaded = load_model(str(tmp_path / "ckpt"), "cpu")
    assert loaded.tokenizer.kind == "sentencepiece" and not loaded.tokenizer.timestamps
    assert loaded.tokenizer.encode(text) == tok.encode(text)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key


def losses(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["kind"] == "train"]


def test_resume_gives_the_same_weights_as_one_run(tiny_sets, tmp_path):
    # Dropout on, so the restored RNG state matters too.
    assert train.main(tiny_args(tiny_sets, tmp_path / "whole", "--dropout", "0.1")) == 0
    assert train.main(tiny_args(tiny_sets, tmp_path / "parts", "--dropout", "0.1", "--stop-after", "3")) == 0  # fmt: skip
    state = json.loads((tmp_path / "parts" / "last" / "train_state.json").read_text())
    assert state["step"] == 3
    assert train.main(tiny_args(tiny_sets, tmp_path / "parts", "--dropout", "0.1", "--resume")) == 0  # fmt: skip
    whole = load_file(tmp_path / "whole" / "last" / "model.safetensors")
    parts = load_file(tmp_path / "parts" / "last" / "model.safetensors")
    assert whole.keys() == parts.keys()
    for key in whole:
        torch.testing.assert_close(parts[key], whole[key], atol=1e-6, rtol=1e-5)
    assert losses(tmp_path / "parts") == pytest.approx(losses(tmp_path / "whole"), rel=1e-5)
    # The resumed session took its recipe from OUT/last: the same config as the whole run's.
    resumed = json.loads((tmp_path / "parts" / "last" / "train_state.json").read_text())
    whole_state = json.loads((tmp_path / "whole" / "last" / "train_state.json").read_text())
    assert {k: v for k, v in resumed["config"].items() if k not in train.SESSION_FIELDS} == {
        k: v for k, v in whole_state["config"].items() if k not in train.SESSION_FIELDS
    }
    # Training changed the weights (the comparison above is not between two inits).
    init = AVCaptioner(load_model(str(tmp_path / "whole" / "last"), "cpu").model.config)
    assert any(
        not torch.allclose(init.state_dict()[k].float(), whole[k].float())
        for k in whole
        if k.startswith("decoder.")
    )
    assert (tmp_path / "whole" / "curves.png").stat().st_size > 1000 or not _has_matplotlib()


@pytest.mark.parametrize(("decoder", "width"), [("transformer", 200), ("lstm", 112)])
def test_train_runs_at_a_width_heads_do_not_divide(tiny_sets, tmp_path, decoder, width):
    """--width 200 (200 // 64 = 3 heads) and an LSTM at 112 (112 // 32 = 3) used to stop in
    a reshape error: the head count now splits the width evenly."""
    out = tmp_path / "run"
    args = tiny_args(tiny_sets, out, "--decoder", decoder, "--width", str(width))
    assert train.main(args + ["--max-steps", "2", "--eval-every", "2"]) == 0
    config = json.loads((out / "last" / "config.json").read_text())["model"]
    assert config["n_text_state"] == width and width % config["n_text_head"] == 0
    assert width % config["n_audio_head"] == 0


def test_train_config_survives_the_checkpoint_and_is_used_on_resume(tiny_sets, tmp_path):
    """TrainConfig -> OUT/last/train_state.json (JSON, no pickle) -> the same TrainConfig;
    --resume trains on with it, and refuses a recipe option that differs from it."""
    out = tmp_path / "run"
    args = tiny_args(tiny_sets, out, "--max-steps", "4", "--eval-every", "2", "--stop-after", "2",
                     "--label-smoothing", "0.05", "--seed", "7")  # fmt: skip
    config = train.parse_config(args)
    assert (config.max_steps, config.label_smoothing, config.seed) == (4, 0.05, 7)
    assert config.freeze == "none"  # "auto" is saved resolved
    assert train.main(args) == 0
    state = json.loads((out / "last" / "train_state.json").read_text())
    assert state["step"] == 2
    assert train.TrainConfig.from_dict(state["config"]) == config
    assert train.TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert not any(p.suffix in (".pt", ".pkl", ".bin") for p in (out / "last").iterdir())
    # Resuming with only the output folder: every recipe option comes from the checkpoint,
    # the session's own (--stop-after) from the command line.
    resumed = train.parse_config(["--out", str(out), "--resume"])
    assert resumed == train.TrainConfig(**{**config.to_dict(), "resume": True, "stop_after": None})
    assert train.parse_config([*args, "--resume"]).lr == config.lr
    with pytest.raises(SystemExit):
        train.parse_config(["--out", str(out), "--resume", "--lr", "0.1"])
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        train.TrainConfig.from_dict({**config.to_dict(), "learning_rate": 1.0})
    assert train.main(["--out", str(out), "--resume"]) == 0
    state = json.loads((out / "last" / "train_state.json").read_text())
    assert state["step"] == 4 and state["config"]["label_smoothing"] == 0.05


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_captioning_checkpoint_gives_one_cue_per_window(tiny_sets, tmp_path):
    """caption.py on a trained captioning model: one cue per 3 s window of the file."""
    out = tmp_path / "run"
    assert train.main(tiny_args(tiny_sets, out, "--decoder", "lstm", "--lr", "1e-2")) == 0
    media = tmp_path / "media"
    media.mkdir()
    clip = sorted(tiny_sets[1].glob("*.mp4"))[0]
    shutil.copy(clip, media / "clip.mp4")
    from tests.media_factory import make_video, tone

    make_video(media / "long.mp4", 7.0, audio=tone(440, 7.0))
    code = caption.main([str(media), "--out", str(tmp_path / "subs"), "--model", str(out / "best"),
                         "--beam-size", "1", "--quiet"])  # fmt: skip
    assert code == 0
    cues = read_subtitles(tmp_path / "subs" / "clip.srt")
    assert cues and cues[0].start == 0.0 and cues[-1].end == 3.0  # layout may split long text
    # One caption per window of the model's 3 s audio span.
    loaded = load_model(str(out / "best"), "cpu")
    config = loaded.model.config
    reader = MediaReader(media / "long.mp4", 16000, config.frames_per_second, config.frame_size)
    with reader:
        options = SubtitleOptions(decoding=DecodingOptions(beam_size=1))
        segments = caption_windows(reader, loaded, options)
    assert [(s.start, s.end) for s in segments] == [(0.0, 3.0), (3.0, 6.0), (6.0, 7.0)]
    assert all(s.text for s in segments)


def test_torchrun_two_processes_and_accumulation_match_one(tiny_sets, tmp_path):
    common = ["--dropout", "0", "--max-steps", "4", "--eval-every", "4", "--batch-size", "8"]
    assert train.main(tiny_args(tiny_sets, tmp_path / "one", *common)) == 0
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", str(ROOT / "train.py"),
               *tiny_args(tiny_sets, tmp_path / "two", *common)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 4
    assert two == pytest.approx(one, rel=1e-4)
    # Gradient accumulation over 2 micro-batches: the same global batch, the same curve.
    assert train.main(tiny_args(tiny_sets, tmp_path / "accum", *common, "--accum", "2")) == 0
    assert losses(tmp_path / "accum") == pytest.approx(one, rel=1e-4)
    a = load_file(tmp_path / "one" / "last" / "model.safetensors")
    b = load_file(tmp_path / "two" / "last" / "model.safetensors")
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-4, rtol=1e-3)


def test_finetune_default_visual_branch_keeps_wer(tmp_path):
    """Fine-tuning the default model's visual branch for a few steps on a subtitled folder:
    only visual parameters change, the gates open, and WER on examples/ stays the same."""
    data = tmp_path / "subs"
    data.mkdir()
    shutil.copy(ROOT / "examples" / "jfk.mp4", data / "jfk.mp4")
    shutil.copy(ROOT / "examples" / "jfk.srt", data / "jfk.srt")
    out = tmp_path / "ft"
    args = ["--data", str(data), "--init", "default", "--out", str(out), "--max-steps", "2",
            "--batch-size", "2", "--eval-every", "2", "--lr", "1e-4", "--warmup", "1"]  # fmt: skip
    assert train.main(args) == 0
    tuned = load_file(out / "last" / "model.safetensors")
    torch.manual_seed(0)  # train.py's --seed: the same random frame encoder as its start
    before = load_model("default", "cpu").model.state_dict()
    changed = {k for k in tuned if not torch.equal(tuned[k], before[k].cpu())}
    assert changed and all(k.startswith("frame_encoder.") or ".visual_" in k for k in changed)
    assert not any(k.startswith("frame_encoder.trunk.") for k in changed)
    assert any("gate" in k for k in changed)
    wer = {}
    for name, model in (("default", "default"), ("tuned", str(out / "last"))):
        subs = tmp_path / f"subs-{name}"
        assert caption.main([str(ROOT / "examples" / "jfk.mp4"), "--out", str(subs),
                             "--model", model, "--quiet"]) == 0  # fmt: skip
        hyp = read_subtitles(subs / "jfk.srt")
        wer[name] = score_subtitles(hyp, read_subtitles(ROOT / "examples" / "jfk.srt"), ["wer"])
    assert wer["tuned"] == wer["default"]
