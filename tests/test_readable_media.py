"""The readable-subtitles test set (bench/readable_media.py): its reference cues sit exactly
on the speech of the decoded video, and its non-speech stretches are listed where they are."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bench.readable_media import QUICK_SET, SAMPLE_RATE, build_set, read_stretches
from data.media import load_audio, probe
from data.subtitles import read_subtitles

pytestmark = pytest.mark.needs_tool("espeak-ng")

# Quiet floor (-60 dBFS) against speech (RMS ~0.04-0.08): far apart on a log scale.
QUIET_RMS = 0.005


@pytest.fixture(scope="module")
def quick_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("readable")
    return out, build_set(out, quick=True)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


def _window(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    return audio[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]


def _speech_video(out, manifest):
    entry = next(v for v in manifest["videos"] if v["has_speech"])
    return (
        load_audio(out / entry["video"]),
        read_subtitles(out / entry["reference"]),
        read_stretches(out / entry["non_speech"]),
        entry,
    )


def test_quick_set_is_short_and_has_both_kinds_of_video(quick_set):
    out, manifest = quick_set
    assert sum(probe(out / v["video"]).duration for v in manifest["videos"]) < 60
    assert [v["has_speech"] for v in manifest["videos"]] == [s.speech for s in QUICK_SET]
    silent = next(v for v in manifest["videos"] if not v["has_speech"])
    assert read_subtitles(out / silent["reference"]) == []
    stretches = read_stretches(out / silent["non_speech"])
    assert stretches[0].start == 0 and stretches[-1].end == pytest.approx(silent["seconds"])


def test_reference_cues_start_and_end_where_the_voice_does(quick_set):
    audio, cues, stretches, _ = _speech_video(*quick_set)
    assert len(cues) >= 4
    for cue in cues:
        assert _rms(_window(audio, cue.start, cue.end)) > 4 * QUIET_RMS
        # The voice is there from the first 50 ms of the cue to its last 50 ms...
        assert _rms(_window(audio, cue.start, cue.start + 0.05)) > QUIET_RMS
        assert _rms(_window(audio, cue.end - 0.05, cue.end)) > QUIET_RMS
        # ...and the 100 ms before and after are quiet (pauses are at least 0.2 s).
        assert _rms(_window(audio, cue.start - 0.1, cue.start)) < QUIET_RMS
        assert _rms(_window(audio, cue.end, cue.end + 0.1)) < QUIET_RMS
    for before, after in zip(cues, cues[1:], strict=False):
        assert after.start - before.end >= 0.2


def test_non_speech_stretches_are_listed_where_the_sound_is(quick_set):
    audio, cues, stretches, entry = _speech_video(*quick_set)
    assert {s.kind for s in stretches} == set(QUICK_SET[0].kinds)
    for stretch in stretches:
        assert stretch.end - stretch.start >= 5
        assert not any(c.start < stretch.end and stretch.start < c.end for c in cues)
        loud = _rms(_window(audio, stretch.start, stretch.end)) > 4 * QUIET_RMS
        assert loud == (stretch.kind != "silence")
    # Outside cues and stretches there is only the quiet floor.
    mask = np.ones(len(audio), bool)
    for span in (*cues, *stretches):
        mask[round(span.start * SAMPLE_RATE) : round(span.end * SAMPLE_RATE)] = False
    assert _rms(audio[mask]) < QUIET_RMS


def test_scores_of_the_reference_itself_and_of_a_cue_over_a_stretch(quick_set, tmp_path):
    from bench.readable_scores import score_system
    from data.subtitles import Cue, write_subtitles

    out, manifest = quick_set
    for video in manifest["videos"]:
        shutil.copy(out / video["reference"], tmp_path / f"{video['name']}.srt")
    perfect = score_system(out, manifest, tmp_path)
    assert perfect.wer == 0 and perfect.cues_in_stretches == perfect.cues_on_no_speech_videos == 0
    assert perfect.figures["hyp_time_near_speech"] == perfect.figures["ref_speech_covered"] == 100

    # One cue on the video without speech, and the last sentence before a stretch held
    # on into it by 1 s.
    silent = next(v for v in manifest["videos"] if not v["has_speech"])
    write_subtitles([Cue(1.0, 2.0, "You")], tmp_path / f"{silent['name']}.srt")
    audio, cues, stretches, entry = _speech_video(out, manifest)
    before = max((c for c in cues if c.end <= stretches[0].start), key=lambda c: c.end)
    held = [Cue(c.start, stretches[0].start + 1.0, c.text) if c == before else c for c in cues]
    write_subtitles(held, tmp_path / f"{entry['name']}.srt")
    flawed = score_system(out, manifest, tmp_path)
    assert flawed.cues_on_no_speech_videos == 1 and flawed.cues_in_stretches == 1
    assert sorted(flawed.invented) == sorted(["You", before.text])
    assert flawed.figures["hyp_time_near_speech"] < 100
