"""Word timestamps: DTW against a plain loop, the opt-in scores path against the model,
parity with faster-whisper's words on the example video, batched windows as alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from data.media import load_audio
from model.alignment import align_words, median_filter, split_to_word_tokens
from model.attention import MultiHeadAttention
from model.audio import window_mel
from model.captioner import AVCaptioner
from model.config import ModelConfig
from model.dtw import dtw, dtw_many
from model.search import DecodingOptions, decode_windows
from tests.whisper_fixtures import TINY_DIMS

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "jfk_faster_whisper_words.json"
# Measured: avsub's words equal faster-whisper's to float precision (0.00 s mean and max
# on starts and ends). One 20-ms encoder step of slack for float drift across machines.
STEP = 0.02


def reference_dtw(cost: np.ndarray) -> tuple[list[int], list[int]]:
    """Whisper's dtw_cpu + backtrace, written as the plain O(N*M) loop."""
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    trace = np.full((n + 1, m + 1), -1)
    total[0, 0] = 0
    for j in range(1, m + 1):
        for i in range(1, n + 1):
            c0, c1, c2 = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
            if c0 < c1 and c0 < c2:
                c, t = c0, 0
            elif c1 < c0 and c1 < c2:
                c, t = c1, 1
            else:
                c, t = c2, 2
            total[i, j] = cost[i - 1, j - 1] + c
            trace[i, j] = t
    trace[0, :] = 2
    trace[:, 0] = 1
    i, j, path = n, m, []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        if trace[i, j] == 0:
            i, j = i - 1, j - 1
        elif trace[i, j] == 1:
            i -= 1
        else:
            j -= 1
    rows, columns = zip(*reversed(path), strict=True)
    return list(rows), list(columns)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (5, 40), (23, 60), (40, 30)])
@pytest.mark.parametrize("ties", [False, True])
def test_dtw_equals_the_plain_loop(shape, ties):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    for _ in range(3):
        # Small integers make many equal-cost choices, so the tie-breaking is checked too.
        cost = rng.integers(0, 3, shape).astype(float) if ties else rng.standard_normal(shape)
        rows, columns = dtw(cost)
        assert (rows.tolist(), columns.tolist()) == reference_dtw(cost)


def test_dtw_of_several_matrices_at_once_equals_each_alone():
    """The alignment fills all windows' tables together, padded to the largest."""
    rng = np.random.default_rng(7)
    shapes = [(5, 40), (23, 60), (1, 9), (40, 30), (7, 1)]
    costs = [rng.integers(0, 3, shape).astype(float) for shape in shapes]
    for cost, (rows, columns) in zip(costs, dtw_many(costs), strict=True):
        assert (rows.tolist(), columns.tolist()) == reference_dtw(cost)


def test_median_filter_equals_numpy_on_reflected_windows():
    x = torch.randn(3, 4, 50)
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (3, 3)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 7, axis=-1)
    np.testing.assert_allclose(median_filter(x, 7).numpy(), np.median(windows, axis=-1))
    assert torch.equal(median_filter(x[..., :3], 7), x[..., :3])  # too short to reflect


def test_scores_are_the_attention_that_sdpa_applies():
    torch.manual_seed(0)
    attention = MultiHeadAttention(64, 4)
    x, memory = torch.randn(2, 5, 64), torch.randn(2, 30, 64)
    k, v = attention.project_kv(memory)
    q = attention.split_heads(attention.query(x))
    heads = [3, 1]
    by_sdpa = F.scaled_dot_product_attention(q, k, v)[:, heads]  # (B, 2, T, D/H)
    by_scores = attention.scores(x, (k, v), heads).softmax(dim=-1) @ v[:, heads]
    torch.testing.assert_close(by_scores, by_sdpa, atol=1e-5, rtol=1e-5)


def test_alignment_pass_gives_the_decoding_logits():
    torch.manual_seed(0)
    config = ModelConfig(**{**TINY_DIMS, "n_vocab": 1000, "n_text_ctx": 64})
    model = AVCaptioner(config).eval()
    with torch.no_grad():
        cross = model.encode(torch.randn(2, 80, 3000))
        tokens = torch.randint(0, 1000, (2, 9))
        logits, _ = model.decoder(tokens, cross)
        states, scores = model.decoder.alignment_scores(tokens, cross, [[1, 1], [0, 0], [1, 0]])
        aligned_logits = model.decoder.output_logits(states)
    torch.testing.assert_close(aligned_logits, logits, atol=1e-4, rtol=1e-4)
    assert scores.shape == (2, 3, 9, config.n_audio_ctx)


def test_words_split_on_spaces_or_on_characters(default_model):
    tokenizer = default_model.tokenizer
    english = tokenizer.encode(" And so, my fellow Americans!")
    words, groups = split_to_word_tokens(tokenizer, english, "en")
    assert words == [" And", " so", ",", " my", " fellow", " Americans", "!"]
    assert [t for g in groups for t in g] == english
    chinese = tokenizer.encode("我们的国家")  # several byte tokens per character
    words, groups = split_to_word_tokens(tokenizer, chinese, "zh")
    assert words == list("我们的国家")
    assert [t for g in groups for t in g] == chinese


SHORT_SECONDS = 2.5  # the second window: "And so, my fellow Americans"
SILENCE_SECONDS = 5.0  # the third window: silence, then the whole speech


@pytest.fixture(scope="module")
def jfk(default_model):
    """The example's audio, faster-whisper's record, and the CrossCache of three windows:
    the whole 11 s, its first 2.5 s, and 5 s of silence followed by the 11 s (encoded once;
    the encoder is the slow part)."""
    audio = load_audio(ROOT / "examples" / "jfk.mp4")
    after_silence = np.concatenate([np.zeros(int(SILENCE_SECONDS * 16000), audio.dtype), audio])
    mels = [audio, audio[: int(SHORT_SECONDS * 16000)], after_silence]
    with torch.no_grad():
        cross = default_model.model.encode(torch.stack([window_mel(m) for m in mels]))
    return audio, json.loads(FIXTURE.read_text()), cross


def rows(cross, *indices):
    return cross.index_select(torch.tensor(indices))


def test_jfk_words_match_faster_whisper(default_model, jfk):
    audio, record, cross = jfk
    model, tokenizer = default_model.model, default_model.tokenizer
    text_tokens = [t for s in record["segments"] for t in s["text_tokens"]]
    expected = [w for s in record["segments"] for w in s["words"]]
    sot = tokenizer.sot_sequence(None, "transcribe", timestamps=True)
    (words,) = align_words(
        model, tokenizer, rows(cross, 0), sot, [text_tokens], [len(audio) // 160], [0.0]
    )

    assert [w.text for w in words] == [w["text"] for w in expected]
    assert words[1].text == "so,"  # punctuation joins its word
    duration = len(audio) / 16000
    for word, following in zip(words, words[1:], strict=False):
        assert word.start <= word.end <= following.start  # in order, never overlapping
    assert 0.0 <= words[0].start and words[-1].end <= duration
    starts = np.abs([w.start - e["start"] for w, e in zip(words, expected, strict=True)])
    ends = np.abs([w.end - e["end"] for w, e in zip(words, expected, strict=True)])
    assert starts.mean() <= STEP / 2 and ends.mean() <= STEP / 2, (starts, ends)
    assert starts.max() <= STEP + 1e-6 and ends.max() <= STEP + 1e-6, (starts, ends)
    probabilities = np.array([w.probability for w in words])
    assert np.abs(probabilities - [e["probability"] for e in expected]).max() < 0.01
    # Without probabilities (the batch pipeline's way: no output carries them) the words
    # and their times are the same.
    (timed_only,) = align_words(
        model, tokenizer, rows(cross, 0), sot, [text_tokens], [len(audio) // 160], [0.0],
        probabilities=False,
    )  # fmt: skip
    assert [(w.start, w.end, w.text) for w in timed_only] == [
        (w.start, w.end, w.text) for w in words
    ]
    assert all(w.probability is None for w in timed_only)


def test_a_batch_of_windows_aligns_each_as_alone(default_model, jfk):
    """Two windows of different audio and text lengths (and an empty one between) in one
    batch give the words each gives alone; each window's offset is added."""
    audio, record, cross = jfk
    model, tokenizer = default_model.model, default_model.tokenizer
    sot = tokenizer.sot_sequence(None, "transcribe", timestamps=True)
    whole = [t for s in record["segments"] for t in s["text_tokens"]]
    short = tokenizer.encode(" And so, my fellow Americans")
    frames = [len(audio) // 160, int(SHORT_SECONDS * 100), int(SHORT_SECONDS * 100)]
    batched = align_words(
        model, tokenizer, rows(cross, 0, 1, 1), sot, [whole, [], short], frames, [0.0, 11, 30]
    )

    alone_whole = align_words(model, tokenizer, rows(cross, 0), sot, [whole], frames[:1], [0])
    alone_short = align_words(model, tokenizer, rows(cross, 1), sot, [short], frames[2:], [30])
    assert batched[1] == []
    for got, alone in ((batched[0], alone_whole[0]), (batched[2], alone_short[0])):
        assert [w.text for w in got] == [w.text for w in alone]
        for a, b in zip(got, alone, strict=True):
            assert abs(a.start - b.start) < 1e-6 and abs(a.end - b.end) < 1e-6
    assert [w.text for w in batched[2]] == ["And", "so,", "my", "fellow", "Americans"]
    assert 30.0 <= batched[2][0].start and batched[2][-1].end <= 30 + SHORT_SECONDS


def test_words_after_silence_start_where_the_speech_does(default_model, jfk):
    """With 5 s of silence before the speech, no word is stretched back over the silence:
    every word moves by the 5 s (measured: 0.024 s mean, 0.20 s max difference; the
    encoder is not exactly shift-invariant)."""
    audio, record, cross = jfk
    model, tokenizer = default_model.model, default_model.tokenizer
    sot = tokenizer.sot_sequence(None, "transcribe", timestamps=True)
    text = [t for s in record["segments"] for t in s["text_tokens"]]
    frames = len(audio) // 160 + int(SILENCE_SECONDS * 100)
    (shifted,) = align_words(model, tokenizer, rows(cross, 2), sot, [text], [frames], [0.0])
    expected = [w for s in record["segments"] for w in s["words"]]
    assert [w.text for w in shifted] == [w["text"] for w in expected]
    assert shifted[0].start >= SILENCE_SECONDS
    moved = np.array([w.start - SILENCE_SECONDS for w in shifted])
    starts = np.abs(moved - [e["start"] for e in expected])
    assert starts.mean() <= 0.05 and starts.max() <= 0.25, starts


@pytest.mark.parametrize("encoder", [False, True], ids=["keys", "keys-and-encoder"])
def test_bfloat16_gives_the_same_words_and_times(default_model, jfk, encoder):
    """caption.py and serve.py hold the encoder keys/values in bfloat16 on a CPU with native
    bfloat16, and with --int8 the audio encoder too (model/cpu_precision.py): on the
    example the decoded tokens are those of float32 and every word time is within one
    alignment step. (Where the CPU lacks bfloat16 instructions PyTorch emulates them:
    slower, same results.)"""
    import copy

    from model.cpu_precision import hold_in_bfloat16

    audio = jfk[0]
    tok = default_model.tokenizer
    sot = tok.sot_sequence(None, "transcribe", False)
    narrow = copy.deepcopy(default_model.model)
    hold_in_bfloat16(narrow, encoder=encoder)
    assert (narrow.encoder.conv1.weight.dtype == torch.bfloat16) == encoder
    results = []
    for model in (default_model.model, narrow):
        with torch.no_grad():
            cross = model.encode(window_mel(audio)[None])
            (result,) = decode_windows(
                model, tok, cross, sot, [[]], DecodingOptions(without_timestamps=True), 0.0
            )
        (words,) = align_words(model, tok, cross, sot, [result.tokens], [len(audio) // 160], [0.0])
        results.append((cross.audio[0][0].dtype, result.tokens, words))
    (dtype32, tokens32, words32), (dtype16, tokens16, words16) = results
    assert (dtype32, dtype16) == (torch.float32, torch.bfloat16)
    assert tokens16 == tokens32 and "ask not what your country" in tok.decode(tokens16)
    assert [w.text for w in words16] == [w.text for w in words32]
    for a, b in zip(words16, words32, strict=True):
        assert abs(a.start - b.start) <= STEP + 1e-6 and abs(a.end - b.end) <= STEP + 1e-6
