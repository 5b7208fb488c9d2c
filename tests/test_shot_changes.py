"""Shot changes: cuts found in the picture to the frame, cue times that follow the
Netflix shot-change rules, and the report that checks them."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import numpy as np
import pytest

from app.cut_timing import layout_with_cuts
from app.layout import LayoutOptions, layout_words
from bench.shot_media import Shots, pictures, write_video
from data import shot_changes
from data.shot_change_rules import (
    cut_gap,
    cuts_crossed,
    in_time_off_cut,
    out_time_off_cut,
    snap_window,
)
from data.shot_changes import ShotChanges, detect_shot_changes
from data.subtitles import Cue, Word, format_subtitles, read_subtitles, write_subtitles
from evaluation.subtitle_layout import layout_compliance
from tests.test_layout import assert_keeps_every_rule, realistic_speech, spoken

OPTIONS = LayoutOptions()


def shot_video(path, rate: Fraction, cuts, gradual, seconds=6.0, preset="ultrafast", x264=""):
    frames = round(seconds * float(rate))
    audio = np.zeros(round(seconds * 16000), np.float32)
    # Pans of at most 2 pixels a frame: small next to 320 x 180 as camera moves are.
    pixels = pictures(cuts, gradual, frames, Shots((320, 180), 7))
    write_video(path, pixels, rate, (320, 180), audio, preset, x264)
    return path


@pytest.mark.parametrize(
    "rate, preset, x264",
    [
        (Fraction(24), "ultrafast", ""),  # every frame a reference frame
        # B-frames and no keyframes at cuts: cuts land on frames the first pass skips.
        (Fraction(30000, 1001), "veryfast", "scenecut=0"),
    ],
)
def test_hard_cuts_are_found_to_the_frame_and_fades_are_not_cuts(
    tmp_path, monkeypatch, rate, preset, x264
):
    cuts = [30, 61, 150, 171, 193]
    gradual = [(80, 99, "fade"), (110, 129, "dissolve")]
    video = shot_video(tmp_path / "cuts.mp4", rate, cuts, gradual, 9.0, preset, x264)
    refined, original = [], shot_changes.refine_cut

    def refine(*args):
        refined.append(original(*args))
        return refined[-1]

    monkeypatch.setattr(shot_changes, "refine_cut", refine)
    found = detect_shot_changes(video)
    # Without B-frames every frame is decoded at once; with them some cuts are found again
    # among the frames the first pass skipped.
    assert bool(refined) == (preset != "ultrafast")
    assert found.fps == pytest.approx(float(rate))
    assert found.frames() == cuts
    # Each time is the shown time of the cut's frame, to the millisecond.
    assert found.times == pytest.approx([c / float(rate) for c in cuts], abs=1e-3)


def still_pictures(shots: list[tuple[int, int]], frames: int):
    """(H, W, 3) frames of still pictures: `shots` = [(first frame, picture seed)]."""
    starts = dict(shots)
    for k in range(frames):
        if k in starts:
            cells = np.random.default_rng(starts[k]).integers(20, 236, (9, 16, 3)).astype(np.uint8)
            picture = np.kron(cells, np.ones((20, 20, 1), np.uint8))
        yield picture


@pytest.mark.parametrize(
    "shots, cuts",
    [
        ([(0, 1), (100, 2), (200, 3)], [100, 200]),  # cuts between keyframes
        ([(0, 1), (130, 2), (140, 1)], [130, 140]),  # away and back between two keyframes
    ],
)
def test_still_stretches_are_not_decoded_and_cuts_inside_stretches_are_found(tmp_path, shots, cuts):
    """Keyframes every 48 frames, none at the cuts: stretches whose keyframes show the same
    picture and hold no large frame are skipped, and the cuts are still found to the frame,
    also a cut away and back between two keyframes that look alike."""
    path = tmp_path / "still.mp4"
    audio = np.zeros(16000 * 12, np.float32)
    pictures_ = still_pictures(shots, 288)
    write_video(
        path, pictures_, Fraction(24), (320, 180), audio, "veryfast", "keyint=48:scenecut=0"
    )
    spans = shot_changes.spans_to_decode(str(path), shot_changes.ShotChangeOptions())
    decoded = sum(min(stop, 12.0) - start for start, stop in spans)
    assert decoded <= 12.0 * 3 / 6 + 1e-6  # at most 3 of the 6 stretches
    assert all(any(start < c / 24 <= stop for start, stop in spans) for c in cuts)
    assert detect_shot_changes(path).frames() == cuts


def test_a_file_without_video_has_no_shot_changes(tmp_path):
    from tests.media_factory import make_audio

    assert detect_shot_changes(make_audio(tmp_path / "a.wav", np.zeros(8000, np.float32))) is None


# ------------------------------------------------------------------------ cue timing

FPS = 24.0
WINDOW = snap_window(OPTIONS.shot_change_window, FPS)  # 12 frames
GAP = cut_gap(OPTIONS.min_gap, FPS)  # 2 frames


def shifted(words: list[Word], seconds: float) -> list[Word]:
    return [Word(w.start + seconds, w.end + seconds, w.text) for w in words]


def ending_at(text: str, end: float, rate: float = 14.0) -> list[Word]:
    words = spoken(text, 0.0, rate)
    return shifted(words, end - words[-1].end)


def broken_rules(cues: list[Cue], words: list[Word], cuts: list[float]) -> list[str]:
    speech = [(w.start, w.end) for w in words]
    problems = []
    for cue in cues:
        if cuts_crossed(cue.start, cue.end, cuts, speech, GAP, FPS):
            problems.append(f"{cue} crosses a cut")
        if in_time_off_cut(cue.start, cuts, WINDOW, FPS) is not None:
            problems.append(f"{cue} starts near a cut")
        if out_time_off_cut(cue.end, cuts, WINDOW, GAP, FPS) is not None:
            problems.append(f"{cue} ends near a cut")
    return problems


def assert_no_word_hidden(cues: list[Cue], words: list[Word], cuts: list[float]):
    """Every word inside a cue, except that an out-time the gap before a cut may cover
    the last frames of a word that ends before the cut (and, as in the layout alone,
    words closer than min_gap share the gap between them)."""
    slack = OPTIONS.min_gap / 2 + 1e-3
    for word in words:
        assert any(
            cue.start - slack <= word.start
            and (
                word.end <= cue.end + slack
                or any(abs(cue.end - (c - GAP)) < 1e-3 and word.end <= c for c in cuts)
            )
            for cue in cues
        ), word


def test_edges_near_a_cut_go_onto_it():
    cut = 6.0
    words = ending_at("The birch canoe slid on the smooth planks.", cut - 0.25)
    words += spoken("Glue the sheet to the dark blue background.", cut + 0.2, 14.0)
    plain = layout_words(words, OPTIONS, 20.0)
    assert broken_rules(plain, words, [cut])  # the layout alone misses the cut
    cues = layout_with_cuts(words, ShotChanges(FPS, (cut,)), OPTIONS, 20.0)
    assert [cue.end for cue in cues][0] == pytest.approx(cut - 2 / FPS, abs=1e-3)
    assert cues[1].start == pytest.approx(cut, abs=1e-3)
    assert not broken_rules(cues, words, [cut])
    assert_keeps_every_rule(cues, words)


def test_speech_that_starts_before_a_cut_is_never_hidden():
    cut = 6.0
    words = spoken("Rice is often served in round bowls.", cut - 0.15, 14.0)
    cues = layout_with_cuts(words, ShotChanges(FPS, (cut,)), OPTIONS, 20.0)
    # The in-time cannot go onto the cut without hiding the first word: it leaves the window.
    assert cues[0].start <= cut - WINDOW + 1e-3
    assert_no_word_hidden(cues, words, [cut])
    assert not broken_rules(cues, words, [cut])


def test_no_cue_crosses_a_cut_without_speech_across_it():
    cut = 6.0
    # Two short sentences a short pause apart: the layout alone makes them one cue.
    words = ending_at("Yes, I know.", cut - 0.2) + spoken("Come in now.", cut + 0.2, 14.0)
    assert len(layout_words(words, OPTIONS, 20.0)) == 1
    cues = layout_with_cuts(words, ShotChanges(FPS, (cut,)), OPTIONS, 20.0)
    assert [cue.text for cue in cues] == ["Yes, I know.", "Come in now."]
    assert not broken_rules(cues, words, [cut])
    assert_keeps_every_rule(cues, words)


def test_a_cue_may_cross_a_cut_the_speech_runs_across():
    words = spoken("The juice of lemons makes fine punch.", 5.0, 14.0)
    cut = (words[2].start + words[2].end) / 2  # inside "of"
    cues = layout_with_cuts(words, ShotChanges(FPS, (cut,)), OPTIONS, 20.0)
    assert len(cues) == 1 and cues[0].start < cut < cues[0].end
    assert not broken_rules(cues, words, [cut])


def test_an_out_time_goes_to_the_next_cut_rather_than_short_of_reading_time():
    # 80 characters spoken in 3.2 s need 4 s at 20 characters per second.
    words = spoken(
        "A pot of tea helps to pass the evening, and the salt breeze came from the sea.", 5.0, 25.0
    )
    plain = layout_words(words, OPTIONS, 30.0)[0]
    assert plain.end - plain.start > words[-1].end - words[0].start + 0.5  # it needs time
    # A cut just after the layout's out-time: the cue runs on to the gap before it...
    cut = plain.end + 0.3
    cues = layout_with_cuts(words, ShotChanges(FPS, (cut,)), OPTIONS, 30.0)
    assert cues[0].end == pytest.approx(cut - GAP, abs=1e-3)
    # ... and a cut just before it: the cue ends before the cut and starts earlier to keep
    # its reading time, rather than end off the cut or cross it.
    cut = plain.end - 0.3
    cues = layout_with_cuts(words, ShotChanges(FPS, (cut,)), OPTIONS, 30.0)
    assert cues[0].end == pytest.approx(cut - GAP, abs=1e-3)
    assert cues[0].end - cues[0].start >= plain.end - plain.start - 1e-3
    assert not broken_rules(cues, words, [cut])


def test_random_speech_and_cuts_keep_the_layout_rules_and_every_word():
    rng = random.Random(3)
    words = realistic_speech(5, minutes=3.0)
    cuts = sorted(rng.uniform(0, 180) for _ in range(60))
    cuts = [c for i, c in enumerate(cuts) if i == 0 or c - cuts[i - 1] > 1.0]
    cues = layout_with_cuts(words, ShotChanges(FPS, tuple(cuts)), OPTIONS, 185.0)
    assert_keeps_every_rule(cues, words)
    assert_no_word_hidden(cues, words, cuts)
    before = len(broken_rules(layout_words(words, OPTIONS, 185.0), words, cuts))
    after = len(broken_rules(cues, words, cuts))
    assert after < before, (before, after)


# -------------------------------------------------------------------- output and report


def test_json_output_lists_the_cuts_and_reads_back(tmp_path):
    from pathlib import Path

    from app.subtitle_run import FileResult, file_details

    cues = [Cue(1.0, 2.5, "Hello.")]
    shots = ShotChanges(25.0, (0.8, 3.2))
    details = file_details(FileResult(0, Path("a.mp4"), cues, 4.0, None, shots=shots))
    data = json.loads(format_subtitles(cues, "json", details))
    assert data["shot_changes"] == [0.8, 3.2] and data["fps"] == 25.0
    assert read_subtitles(write_subtitles(cues, tmp_path / "a.json", details=details)) == cues


def test_score_reports_cues_that_break_the_shot_change_rules(tmp_path, capsys):
    import score

    rate = Fraction(25)
    (tmp_path / "media").mkdir()
    video = shot_video(tmp_path / "media" / "clip.mp4", rate, [50, 100], [], seconds=6.0)
    write_subtitles([Cue(0.5, 1.6, "One two."), Cue(2.2, 3.8, "Three four.")], tmp_path / "ref.srt")
    # Crosses the cut at 2 s with no speech across it; ends 0.2 s before the cut at 4 s.
    bad = [Cue(0.5, 3.0, "One two."), Cue(3.1, 3.8, "Three four.")]
    write_subtitles(bad, tmp_path / "hyp.srt")
    argv = ["--hyp", str(tmp_path / "hyp.srt"), "--ref", str(tmp_path / "ref.srt")]
    out = tmp_path / "report.json"
    assert score.main([*argv, "--metrics", "wer", "--media", str(video), "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["layout"]["corpus"]
    assert figures["cuts"] == 2
    assert figures["cues_crossing_cut"] == 1
    assert figures["cue_edges_off_cut"] == 1  # the second cue's out-time
    assert figures["rule_shot_changes"] == 0.0
    assert "shot-change rules %" in capsys.readouterr().out
    good = [Cue(0.5, 2.0 - 2 / 25, "One two."), Cue(2.0, 4.0 - 2 / 25, "Three four.")]
    write_subtitles(good, tmp_path / "hyp.srt")
    assert score.main([*argv, "--metrics", "wer", "--media", str(video), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["layout"]["corpus"]["rule_shot_changes"] == 100.0
    assert layout_compliance(good, OPTIONS)["rule_all"] == 100.0
