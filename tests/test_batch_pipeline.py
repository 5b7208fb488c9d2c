"""The batched pipeline (app/batch_pipeline.py, app/speech.py): how chunks are batched and
read must never change what a file's subtitles say, and one file never leaks into or
breaks another."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

import app.batch_pipeline as batch_pipeline
from app.batch_pipeline import BatchOptions, subtitle_files
from app.options import SubtitleOptions
from app.speech import SpeechOptions, plan_chunks, speech_probabilities
from data.media import MediaError, MediaReader
from tests.conftest import ROOT
from tests.media_factory import make_corrupt, make_video

SR = 16000
JFK = ROOT / "examples" / "jfk.mp4"
LEAD = 4.0  # seconds of near-silence before the speech of late.mp4


def quiet(seconds: float, seed: int = 0) -> np.ndarray:
    """Room-tone-like noise at -60 dB: not digital zeros, not speech."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(round(seconds * SR)) * 1e-3).astype(np.float32)


@pytest.fixture(scope="module")
def media(tmp_path_factory, jfk_audio):
    root = tmp_path_factory.mktemp("batch")
    files = {
        "jfk": JFK,
        "late": make_video(
            root / "late.mp4",
            LEAD + 11 + 2,
            audio=np.concatenate([quiet(LEAD), jfk_audio, quiet(2)]),
        ),
        "silent": make_video(root / "silent.mp4", 6.0, audio=quiet(6.0, seed=1)),
        # The end of the speech alone: "... ask what you can do for your country."
        "end": make_video(root / "end.mp4", 3.0, audio=jfk_audio[SR * 8 :]),
        # Two stretches of speech 4 s apart: two chunks (a pause longer than max_gap).
        "twice": make_video(
            root / "twice.mp4", 26.0, audio=np.concatenate([jfk_audio, quiet(4.0), jfk_audio])
        ),
    }
    return {name: str(path) for name, path in files.items()}


def run(sources, model, batch_size=4, workers=0):
    """{source: cues or the error} for one subtitle_files run."""
    options = SubtitleOptions()
    results = subtitle_files(list(sources), model, options, BatchOptions(batch_size, workers))
    return {str(r.source): (r.cues if r.error is None else r.error) for r in results}


def text(cues) -> str:
    return " ".join(" ".join(c.text.split()) for c in cues)


@pytest.fixture(scope="module")
def one_at_a_time(media, default_model):
    """The reference: batch size 1, everything read inline."""
    return run([media[n] for n in ("jfk", "late", "silent")], default_model, 1, 0)


def test_batch_size_and_workers_do_not_change_the_cues(media, default_model, one_at_a_time):
    sources = [media[n] for n in ("jfk", "late", "silent")]
    batched = run(sources, default_model, batch_size=4, workers=2)
    assert batched == one_at_a_time  # same cues, same times, every file


def test_speech_after_silence_is_the_same_speech_later(media, one_at_a_time):
    jfk, late = one_at_a_time[media["jfk"]], one_at_a_time[media["late"]]
    assert "ask not what your country can do for you" in text(jfk)
    assert text(late) == text(jfk)
    # The same words, LEAD seconds later (within two 20-ms alignment frames).
    for ours, theirs in zip(late, jfk, strict=True):
        assert ours.start == pytest.approx(theirs.start + LEAD, abs=0.04)
        assert ours.end == pytest.approx(theirs.end + LEAD, abs=0.04)


def test_a_silent_video_has_no_cues(media, one_at_a_time):
    assert one_at_a_time[media["silent"]] == []


def test_files_sharing_a_batch_keep_their_own_words(media, default_model):
    # All three files' chunks fit in one batch of 8: long speech, silence, short speech.
    together = run([media[n] for n in ("jfk", "silent", "end")], default_model, batch_size=8)
    assert together[media["silent"]] == []
    end = text(together[media["end"]])
    assert "your country" in end and "Americans" not in end
    assert together[media["end"]] == run([media["end"]], default_model)[media["end"]]
    assert together[media["jfk"]] == run([media["jfk"]], default_model)[media["jfk"]]
    # Every cue lies inside its own file.
    assert all(c.end <= 3.05 for c in together[media["end"]])


class ReaderThatBreaks(MediaReader):
    """The disk fails while the chunks of `path` are read: its second reader (the chunk
    pass, after the speech pass) raises on its second chunk."""

    path_to_break = ""
    opened = 0

    def __init__(self, path, *args, **kwargs):
        super().__init__(path, *args, **kwargs)
        self.breaks = False
        self.calls = 0
        if str(path) == type(self).path_to_break:
            type(self).opened += 1
            self.breaks = type(self).opened == 2

    def audio(self, start, end):
        self.calls += 1
        if self.breaks and self.calls == 2:
            raise MediaError(self.path, "input/output error")
        return super().audio(start, end)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_a_file_failing_midway_does_not_break_the_others(
    media, default_model, monkeypatch, tmp_path, batch_size
):
    # batch 1: the broken file's first chunk is already decoded when it fails;
    # batch 4: it is waiting in a batch beside the other files' chunks.
    corrupt = make_corrupt(tmp_path / "corrupt.mp4", seconds=4.0)
    monkeypatch.setattr(ReaderThatBreaks, "path_to_break", media["twice"])
    monkeypatch.setattr(ReaderThatBreaks, "opened", 0)
    monkeypatch.setattr(batch_pipeline, "MediaReader", ReaderThatBreaks)
    sources = [media["jfk"], media["twice"], corrupt, media["end"]]
    results = run(sources, default_model, batch_size=batch_size)
    assert set(results) == set(sources)
    assert ReaderThatBreaks.opened == 2, "the chunk pass of twice.mp4 never started"
    assert results[media["twice"]] == f"{media['twice']}: input/output error"
    assert "truncated or corrupt" in results[corrupt]
    monkeypatch.undo()
    assert results[media["jfk"]] == run([media["jfk"]], default_model)[media["jfk"]]
    assert results[media["end"]] == run([media["end"]], default_model)[media["end"]]


# ----------------------------------------------------------------------- app/speech.py


def random_regions(rng, n: int) -> list[tuple[float, float]]:
    """Sorted, disjoint speech regions: mostly short, some longer than a window."""
    regions, t = [], float(rng.uniform(0, 5))
    for _ in range(n):
        t += float(rng.choice([rng.uniform(0.05, 1.5), rng.uniform(1.5, 8.0)]))  # pause
        length = float(rng.choice([rng.uniform(0.2, 6.0), rng.uniform(6.0, 75.0)], p=[0.85, 0.15]))
        regions.append((t, t + length))
        t += length
    return regions


@pytest.mark.parametrize("seed", range(20))
def test_chunks_are_at_most_a_window_and_cut_only_between_regions(seed):
    rng = np.random.default_rng(seed)
    options = SpeechOptions(max_chunk=float(rng.choice([10.0, 30.0])), max_gap=2.0)
    regions = random_regions(rng, int(rng.integers(1, 60)))
    chunks = plan_chunks(regions, options)
    eps = 1e-6
    for chunk in chunks:
        assert chunk.end - chunk.start <= options.max_chunk + eps
        assert chunk.start == chunk.regions[0][0] and chunk.end == chunk.regions[-1][1]
    # The chunks' pieces, in order, are the regions, a region being split only when it
    # is longer than a window (into pieces of equal length).
    pieces = [piece for chunk in chunks for piece in chunk.regions]
    rebuilt = []
    for piece in pieces:
        if rebuilt and abs(piece[0] - rebuilt[-1][1]) < eps:
            rebuilt[-1] = (rebuilt[-1][0], piece[1])  # a cut inside one region
        else:
            rebuilt.append(piece)
    assert np.allclose(rebuilt, regions, rtol=0, atol=eps)
    for start, end in regions:
        inside = [p for p in pieces if start - eps <= p[0] and p[1] <= end + eps]
        if end - start <= options.max_chunk:
            assert len(inside) == 1, "a short region was cut"
    # A long pause always ends a chunk: no window is mostly silence.
    for chunk in chunks:
        gaps = [b[0] - a[1] for a, b in pairwise(chunk.regions)]
        assert all(g <= options.max_gap + eps for g in gaps)


def test_no_speech_no_chunks():
    assert plan_chunks([], SpeechOptions()) == []


def test_speech_probabilities_do_not_depend_on_how_the_audio_is_cut(jfk_audio):
    """The pipeline feeds the detector in 120-s blocks; any cut must give (nearly) the
    same probabilities. Each block restarts the detector's parallel streams, each warmed up
    on only the second before it, so frames near a speech onset can differ: tolerance is
    a median difference under 0.01, 95% of frames within 0.1, and the speech/non-speech
    decision (p > 0.5) the same on 99% of frames."""
    audio = np.concatenate([quiet(3), jfk_audio, quiet(4, seed=2), jfk_audio, jfk_audio[: SR * 5]])
    whole = speech_probabilities([audio])
    cuts = [0, 1000, 1000 + 7 * SR, 1000 + 7 * SR + SR // 2, 20 * SR + 333, len(audio)]
    uneven = speech_probabilities([audio[a:b] for a, b in pairwise(cuts)])
    assert len(uneven) == len(whole) == -(-len(audio) // 512)
    difference = np.abs(uneven - whole)
    assert np.median(difference) < 0.01
    assert np.mean(difference <= 0.1) >= 0.95
    assert np.mean((uneven > 0.5) == (whole > 0.5)) >= 0.99
    # And it is the speech: the quiet lead-in is not, the middle of the first sentence is.
    assert whole[: 3 * SR // 512].max() < 0.5
    assert whole[round(4.5 * SR / 512)] > 0.5
