"""The batched pipeline (app/subtitle_run.py and the stages it runs): how chunks are batched and
read must never change what a file's subtitles say, and one file never leaks into or
breaks another."""

from __future__ import annotations

import subprocess
import sys
from itertools import pairwise

import numpy as np
import pytest

import app.file_reading as file_reading
import app.subtitle_run as subtitle_run
from app.chunks import ChunkInput, plan_chunks
from app.options import SubtitleOptions
from app.speech_regions import SpeechOptions, speech_probabilities
from app.subtitle_run import BatchOptions, subtitle_files
from data.media import MediaError, MediaReader
from evaluation.text_norm import normalise
from model.search import DecodingOptions
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
        "early": make_video(
            root / "early.mp4", 11 + 2, audio=np.concatenate([jfk_audio, quiet(2)])
        ),
        "late": make_video(
            root / "late.mp4",
            LEAD + 11 + 2,
            audio=np.concatenate([quiet(LEAD), jfk_audio, quiet(2)]),
        ),
        "silent": make_video(root / "silent.mp4", 6.0, audio=quiet(6.0, seed=1)),
        # The end of the speech alone: "... ask what you can do for your country."
        "end": make_video(root / "end.mp4", 3.0, audio=jfk_audio[SR * 8 :]),
        # Four times the speech: more than one window of speech, so more than one chunk.
        "long": make_video(
            root / "long.mp4",
            4 * 12.0,
            audio=np.concatenate(
                [np.concatenate([jfk_audio, quiet(1.0, seed=k)]) for k in range(4)]
            ),
        ),
    }
    return {name: str(path) for name, path in files.items()}


def run(sources, model, batch_size=4, workers=0, options=None, encoder_padding=None):
    """{source: cues or the error} for one subtitle_files run."""
    options = options or SubtitleOptions()
    batch = BatchOptions(batch_size, workers, encoder_padding=encoder_padding)
    results = subtitle_files(list(sources), model, options, batch)
    return {str(r.source): (r.cues if r.error is None else r.error) for r in results}


def text(cues) -> str:
    return " ".join(" ".join(c.text.split()) for c in cues)


@pytest.fixture(scope="module")
def one_at_a_time(media, default_model):
    """The reference: batch size 1, everything read inline."""
    return run([media[n] for n in ("jfk", "early", "late", "silent")], default_model, 1, 0)


def test_batch_size_and_workers_do_not_change_the_cues(media, default_model, one_at_a_time):
    sources = [media[n] for n in ("jfk", "early", "late", "silent")]
    batched = run(sources, default_model, batch_size=4, workers=2)
    assert batched == one_at_a_time  # same cues, same times, every file


def test_speech_after_silence_is_the_same_speech_later(media, default_model, one_at_a_time):
    # The factory's picture changes colour every second: a cut each second, which cue
    # edges near it go onto (here the first cue of late.mp4 starts on the cut at 4 s).
    assert one_at_a_time[media["late"]][0].start == pytest.approx(LEAD, abs=1e-3)
    # This test is about the speech alone.
    off = SubtitleOptions(shot_changes="off")
    cues = run([media["early"], media["late"]], default_model, 1, 0, off)
    early, late = cues[media["early"]], cues[media["late"]]
    assert "ask not what your country can do for you" in text(early)
    # The same words; punctuation may differ: decoded with timestamp tokens, the text's
    # commas depend on the lead-in before the voice (0.3 s at the file's start, 0.4 s later).
    assert normalise(text(late)) == normalise(text(early))
    # The same cues, LEAD seconds later (within 0.1 s: the encoder is not exactly
    # shift-invariant and the alignment has 20-ms steps; 0.042 s was seen). Cue starts
    # follow the voice (snapped to the speech regions), not the start of the file.
    assert [c.end for c in late] == pytest.approx([c.end + LEAD for c in early], abs=0.1)
    assert [c.start for c in late] == pytest.approx([c.start + LEAD for c in early], abs=0.1)
    assert early[0].start > 0.05  # jfk.mp4's voice starts ~0.1-0.3 s in


def test_a_silent_video_has_no_cues(media, one_at_a_time):
    assert one_at_a_time[media["silent"]] == []


@pytest.mark.parametrize("padding", [None, 2.0])
def test_files_sharing_a_batch_keep_their_own_words(media, default_model, padding):
    """padding 2.0 (--encoder-padding 2): windows encoded at their own lengths share a
    batch, each masked beyond its own: still each file's words are those it has alone."""
    # All three files' chunks fit in one batch of 8: long speech, silence, short speech.
    sources = [media[n] for n in ("jfk", "silent", "end")]
    together = run(sources, default_model, batch_size=8, encoder_padding=padding)

    def alone(name):
        return run([media[name]], default_model, encoder_padding=padding)[media[name]]

    assert together[media["silent"]] == []
    end = text(together[media["end"]])
    assert "your country" in end and "Americans" not in end
    assert together[media["end"]] == alone("end")
    assert together[media["jfk"]] == alone("jfk")
    assert "ask not what your country can do for you" in text(together[media["jfk"]])
    # Every cue lies inside its own file.
    assert all(c.end <= 3.05 for c in together[media["end"]])


class ReaderThatBreaks(MediaReader):
    """The disk fails while the chunks of `path_to_break` are read: its second reader (the
    chunk pass, after the speech pass) raises once asked for audio from `break_at` on."""

    path_to_break = ""
    break_at = 0.0
    opened = 0

    def __init__(self, path, *args, **kwargs):
        super().__init__(path, *args, **kwargs)
        self.breaks = False
        if str(path) == type(self).path_to_break:
            type(self).opened += 1
            self.breaks = type(self).opened == 2

    def audio(self, start, end):
        if self.breaks and start >= type(self).break_at:
            raise MediaError(self.path, "input/output error")
        return super().audio(start, end)


def test_a_short_file_is_decoded_once_and_its_chunks_read_the_same_audio(
    media, default_model, monkeypatch
):
    """Files up to KEEP_AUDIO_SECONDS keep the speech pass's audio for their chunks; longer
    ones are read again. Both must hand the model exactly the same samples."""

    def chunk_audio(keep_seconds: float) -> list[np.ndarray]:
        monkeypatch.setattr(file_reading, "KEEP_AUDIO_SECONDS", keep_seconds)
        items = file_reading.read_file_chunks(0, media["long"], SpeechOptions(), False, 1.0, 224)
        return [item.audio for item in items if isinstance(item, ChunkInput)]

    opened = []
    monkeypatch.setattr(file_reading, "MediaReader", CountingReader.counting(opened))
    kept = chunk_audio(600.0)
    assert len(opened) == 1  # only the speech pass opened the file
    read_again = chunk_audio(0.0)
    assert len(opened) == 3
    assert len(kept) == len(read_again) >= 2
    for a, b in zip(kept, read_again, strict=True):
        np.testing.assert_array_equal(a, b)


class CountingReader(MediaReader):
    @classmethod
    def counting(cls, opened: list):
        def make(*args, **kwargs):
            opened.append(args[0])
            return cls(*args, **kwargs)

        return make


@pytest.mark.parametrize("batch_size", [1, 4])
def test_a_file_failing_midway_does_not_break_the_others(
    media, default_model, monkeypatch, tmp_path, batch_size
):
    # batch 1: the broken file's first chunk is already decoded when it fails;
    # batch 4: it is waiting in a batch beside the other files' chunks.
    with MediaReader(media["long"]) as reader:
        chunks, _, _, _ = file_reading.read_speech(reader, SpeechOptions())
    assert len(chunks) >= 2
    # Long files are read a second time for their chunks; that is where this one breaks.
    monkeypatch.setattr(file_reading, "KEEP_AUDIO_SECONDS", 0.0)
    corrupt = make_corrupt(tmp_path / "corrupt.mp4", seconds=4.0)
    monkeypatch.setattr(ReaderThatBreaks, "path_to_break", media["long"])
    monkeypatch.setattr(ReaderThatBreaks, "break_at", chunks[-1].start)  # the last chunk
    monkeypatch.setattr(ReaderThatBreaks, "opened", 0)
    monkeypatch.setattr(file_reading, "MediaReader", ReaderThatBreaks)
    sources = [media["jfk"], media["long"], corrupt, media["end"]]
    # Greedy, no fallback: long.mp4 repeats itself, which sends beam search through every
    # temperature (a minute of CPU) and is beside the point here.
    fast = SubtitleOptions(decoding=DecodingOptions(beam_size=1, temperatures=(0.0,)))
    results = run(sources, default_model, batch_size=batch_size, options=fast)
    assert set(results) == set(sources)
    assert ReaderThatBreaks.opened == 2, "the chunk pass of long.mp4 never started"
    assert results[media["long"]] == f"{media['long']}: input/output error"
    assert "truncated or corrupt" in results[corrupt]
    monkeypatch.undo()
    alone = run([media["jfk"], media["end"]], default_model, options=fast)
    assert results[media["jfk"]] == alone[media["jfk"]]
    assert results[media["end"]] == alone[media["end"]]


# ------------------------------------------------- app/speech_regions.py, app/chunks.py


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
def test_chunks_hold_at_most_a_window_of_speech_and_cut_only_between_regions(seed):
    rng = np.random.default_rng(seed)
    options = SpeechOptions(max_chunk=float(rng.choice([10.0, 30.0])))
    regions = random_regions(rng, int(rng.integers(1, 60)))
    chunks = plan_chunks(regions, options)
    eps = 1e-6
    for chunk in chunks:
        assert 0 < chunk.speech_seconds <= options.max_chunk + eps
    # The chunks' pieces, in order, are the regions, a region being split only when it
    # is longer than a window.
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
            assert len(inside) == 1, "a region shorter than a window was cut"
    # Windows are filled: the next piece would not have fitted (no needless extra pass).
    for chunk, after in pairwise(chunks):
        next_piece = after.regions[0]
        assert chunk.speech_seconds + next_piece[1] - next_piece[0] > options.max_chunk - eps


def test_no_speech_no_chunks():
    assert plan_chunks([], SpeechOptions()) == []


def test_times_on_the_joined_clock_land_in_the_region_that_holds_them():
    # Regions of 2 s and 3 s, 10 s apart: joined, 5 s of audio.
    chunk = plan_chunks([(10.0, 12.0), (22.0, 25.0)], SpeechOptions())[0]
    assert chunk.speech_seconds == pytest.approx(5.0)
    assert chunk.to_media(0.5, 1.5) == pytest.approx((10.5, 11.5))
    assert chunk.to_media(2.5, 3.0) == pytest.approx((22.5, 23.0))
    # A word across the join stays in the region holding its middle, never in the silence.
    assert chunk.to_media(1.8, 2.6) == pytest.approx((22.0, 22.6))
    assert chunk.to_media(1.5, 2.1) == pytest.approx((11.5, 12.0))
    # Alignment overshoot past the end of the speech is clamped to it.
    assert chunk.to_media(4.9, 5.4) == pytest.approx((24.9, 25.0))


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


def fresh_python_prints(script: str) -> list[str]:
    """The words `script` prints, run in a new Python process from the repository root."""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_the_speech_detector_needs_no_pytorch():
    """Finding the speech probabilities runs no PyTorch (no tensor per frame) and does not
    import silero_vad's package, whose import would load PyTorch and set it to one thread."""
    script = (
        "import sys, numpy as np;"
        "from app.speech_regions import speech_probabilities;"
        "p = speech_probabilities([np.zeros(16000, np.float32)]);"
        "print(len(p), 'torch' in sys.modules)"
    )
    assert fresh_python_prints(script)[-2:] == ["32", "False"]


def test_the_speech_detector_leaves_the_model_its_threads():
    """silero_vad sets PyTorch to one thread when it is imported: the encoder then ran at
    half speed on 2 cores. A fresh process, as caption.py starts, keeps its thread count."""
    script = (
        "import numpy as np, torch; torch.set_num_threads(2);"
        "from app.speech_regions import speech_regions, SpeechOptions;"
        "speech_regions(np.zeros(50, np.float32), 1.6, SpeechOptions());"
        "print(torch.get_num_threads())"
    )
    assert fresh_python_prints(script)[-1] == "2"


def test_a_batch_that_fails_to_decode_fails_only_its_files(media, default_model, monkeypatch):
    """Out of memory (or any RuntimeError) in one batch: its files are reported, the run
    goes on with the next files."""
    decode = subtitle_run.decode_batch

    def out_of_memory_for_end(batch, *args):
        if any(item.file == 1 for item in batch):
            raise RuntimeError("CUDA out of\nmemory")
        return decode(batch, *args)

    monkeypatch.setattr(subtitle_run, "decode_batch", out_of_memory_for_end)
    sources = [media["jfk"], media["end"], media["silent"]]
    results = run(sources, default_model, batch_size=1)
    assert results[media["end"]] == f"{media['end']}: RuntimeError: CUDA out of memory"
    assert "ask not what your country can do for you" in text(results[media["jfk"]])
    assert results[media["silent"]] == []
