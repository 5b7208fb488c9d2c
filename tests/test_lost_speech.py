"""No speech goes missing silently: a decoding that stops early is continued, detected speech
without words is decoded again on its own, and what still has no words is reported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import app.batch_decoding as batch_decoding
from app.chunks import Attempt, Chunk, ChunkInput
from app.options import SubtitleOptions
from app.subtitle_run import BatchOptions, subtitle_files
from app.word_timing import unworded_speech
from data.media import SAMPLE_RATE
from data.subtitles import Word
from tests.conftest import ROOT
from tests.media_factory import make_video

SR = SAMPLE_RATE


def flat(spans) -> list[float]:
    """Spans as one list of times, for pytest.approx (which takes no nested tuples)."""
    return [time for span in spans for time in span]


def test_a_section_of_a_chunk_keeps_the_media_clock():
    chunk = Chunk(((1.0, 3.0), (10.0, 12.0), (20.0, 21.0)))  # joined: 0-2, 2-4, 4-5
    assert chunk.to_joined(2.5) == pytest.approx(1.5)
    assert chunk.to_joined(11.0) == pytest.approx(3.0)
    assert chunk.to_joined(5.0) == pytest.approx(2.0)  # in a removed silence: next region
    rest = chunk.section(1.5, 5.0)
    assert flat(rest.regions) == pytest.approx([2.5, 3.0, 10.0, 12.0, 20.0, 21.0])
    assert flat(chunk.section(2.5, 3.5).regions) == pytest.approx([10.5, 11.5])
    assert chunk.section(5.0, 6.0) is None


def test_a_part_of_a_chunk_input_cuts_audio_and_speech_alike():
    audio = np.arange(5 * SR, dtype=np.float32)
    item = ChunkInput(0, Chunk(((1.0, 3.0), (10.0, 13.0))), audio, ((1.4, 2.6), (10.4, 12.6)))
    part = item.part(1.5, 4.0, Attempt.REST)
    assert part.attempt is Attempt.REST
    assert flat(part.chunk.regions) == pytest.approx([2.5, 3.0, 10.0, 12.0])
    np.testing.assert_array_equal(part.audio, audio[int(1.5 * SR) : 4 * SR])
    assert flat(part.speech) == pytest.approx([2.5, 2.6, 10.4, 12.0])


def test_unworded_speech_is_what_no_word_covers():
    words = [Word(1.0, 1.5, " a"), Word(1.5, 2.0, " b"), Word(5.2, 5.6, " c")]
    speech = ((0.9, 2.1), (3.0, 6.0), (8.0, 8.5))
    assert unworded_speech(words, speech, 1.0) == [(3.0, 5.2)]
    assert unworded_speech(words, speech, 0.3) == [(3.0, 5.2), (5.6, 6.0), (8.0, 8.5)]
    assert unworded_speech([], ((0.0, 0.5),), 1.0) == []


@pytest.fixture(scope="module")
def espeak():
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed (scripts/install-test-deps.sh installs it)")


def spoken(text: str, voice: str, rate: int) -> np.ndarray:
    from bench.lost_speech_media import speak

    return speak(text, voice, rate)


@pytest.fixture(scope="module")
def repeated_sentence(espeak, tmp_path_factory):
    """A sentence said twice with a second's pause, under mild noise: tiny.en decoding the
    two as one window without timestamps wrote the sentence once (seen on the lost-speech
    benchmark)."""
    sentence = "The birch canoe slid on the smooth planks."
    voice = spoken(sentence, "en-gb", 177)
    rng = np.random.default_rng(1)
    pause = np.zeros(SR, np.float32)
    track = np.concatenate([pause, voice, pause, voice, pause])
    track = track + (rng.standard_normal(len(track)) * 0.004).astype(np.float32)
    path = tmp_path_factory.mktemp("lost") / "twice.mp4"
    make_video(path, len(track) / SR, fps=5, audio=track)
    return str(path), sentence


@pytest.fixture(scope="module")
def benchmark_clips(espeak, tmp_path_factory):
    """Two clips of the lost-speech benchmark where the chunks decoded without timestamp
    tokens lost speech: clip 1 (en-gb, white noise at 20 dB) wrote a sentence said twice
    after a pause once; clip 2 (en-gb-scotland, pink noise at 10 dB) left out its first
    sentence (the decoder began at the second)."""
    from bench.lost_speech_media import CLIP_SECONDS, clip_audio

    folder = tmp_path_factory.mktemp("clips")
    clips = []
    for index in (1, 2):
        audio, clip = clip_audio(index, np.random.default_rng([0, index]), CLIP_SECONDS)
        path = folder / f"{clip.name}.mp4"
        make_video(path, clip.seconds, fps=5, size=(64, 48), audio=audio)
        clips.append((str(path), clip.text))
    return clips


def test_speech_lost_by_chunks_that_ended_early_is_found(default_model, benchmark_clips):
    from bench.lost_runs import lost_runs

    sources = [path for path, _ in benchmark_clips]
    results = subtitle_files(sources, default_model, SubtitleOptions(), BatchOptions(workers=0))
    said = {str(r.source): " ".join(c.text for c in r.cues) for r in results}
    for path, text in benchmark_clips:
        assert lost_runs(text, said[path]).runs == [], said[path]


def test_speech_that_gets_no_words_is_reported_in_the_summary_and_the_json(
    default_model, repeated_sentence, tmp_path, monkeypatch
):
    """When even a stretch decoded on its own yields nothing, the run says so: count and
    times on stderr and in the JSON output."""
    monkeypatch.setattr(batch_decoding, "_text_tokens", lambda *args: [])
    path, _ = repeated_sentence
    (result,) = subtitle_files([path], default_model, SubtitleOptions(), BatchOptions(workers=0))
    assert result.cues == []
    assert len(result.unheard) == 2  # the two sayings
    first, second = result.unheard
    assert 0.8 < first[0] < 1.3 and second[0] > first[1] + 0.5

    from app.folder import caption_files, find_jobs

    jobs, _ = find_jobs([path])
    summary = caption_files(jobs, default_model, tmp_path, ("srt", "json"))
    (saved,) = summary.unheard
    assert saved[1] == result.unheard
    data = json.loads((tmp_path / "twice.json").read_text())
    assert data["cues"] == []
    assert [(s["start"], s["end"]) for s in data["speech_without_words"]] == [
        (round(a, 3), round(b, 3)) for a, b in result.unheard
    ]


def test_caption_py_names_the_speech_without_words(repeated_sentence, tmp_path):
    """In a fresh process the decoder is made to hear nothing: the summary line says how
    much speech got no words, even with --quiet."""
    path, _ = repeated_sentence
    script = (
        "import sys, app.batch_decoding as b; b._text_tokens = lambda *a: [];"
        "import caption; sys.exit(caption.main(sys.argv[1:]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, path, "--out", str(tmp_path), "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert "twice.mp4: 2 stretch(es) of speech got no words" in out.stderr
    assert "2 stretch(es) of detected speech" in out.stderr


def test_the_web_page_warns_of_speech_without_words(
    default_model, repeated_sentence, tmp_path, monkeypatch
):
    from app.web import Limits, OutputFolders, subtitle_status, subtitle_upload

    monkeypatch.setattr(batch_decoding, "_text_tokens", lambda *args: [])
    path, _ = repeated_sentence
    result, _, downloads, _ = subtitle_upload(
        path, default_model, SubtitleOptions(), Limits(), OutputFolders(tmp_path), ["json"]
    )
    status = subtitle_status(result, "twice.mp4", 1.0)
    assert "Warning" in status and "2 stretch(es) of speech got no words" in status
    assert "No speech was found" not in status
    assert len(json.loads(downloads[0].read_text())["speech_without_words"]) == 2
