"""The layout report: rule compliance and speech timing, by hand-computed cases, and as
score.py prints and writes it."""

from __future__ import annotations

import csv
import json

import pytest

from app.layout import LayoutOptions
from data.subtitles import Cue, write_subtitles
from evaluation.subtitle_layout import layout_compliance, layout_report, speech_timing
from tests.test_score_cli import run_score, table_rows

OPTIONS = LayoutOptions()


def test_each_rule_counts_the_cues_that_break_it():
    cues = [
        Cue(0.0, 2.0, "A fine cue."),  # all rules
        Cue(2.05, 4.0, "Too close to the previous one."),  # gap 0.05 < 0.08 (of cue 0)
        Cue(5.0, 5.5, "Short."),  # 0.5 s < 5/6 s
        Cue(6.0, 14.0, "A cue that stays far too long."),  # 8 s > 7 s
        Cue(15.0, 16.0, "Forty-one characters shown in one second."),  # 41 cps
        Cue(17.0, 20.0, "x" * 43),  # line 43 > 42
        Cue(21.0, 24.0, "one\ntwo\nthree"),  # 3 lines
    ]
    figures = layout_compliance(cues, OPTIONS)
    share = 100 / 7
    assert figures["rule_gap"] == pytest.approx(100 - share)  # cue 0's gap to cue 1
    assert figures["rule_min_duration"] == pytest.approx(100 - share)
    assert figures["rule_max_duration"] == pytest.approx(100 - share)
    assert figures["rule_cps"] == pytest.approx(100 - share)
    assert figures["rule_line_width"] == pytest.approx(100 - share)
    assert figures["rule_line_count"] == pytest.approx(100 - share)
    assert figures["rule_all"] == pytest.approx(100 - 6 * share)  # only cue 1 keeps all


def test_compliance_sorts_cues_counts_overlap_as_no_gap_and_allows_millisecond_rounding():
    cues = [Cue(3.0, 4.0, "later"), Cue(0.0, 3.5, "first, overlapping")]
    assert layout_compliance(cues, OPTIONS)["rule_gap"] == 50.0
    rounded = [Cue(0.0, 0.833, "ok"), Cue(0.913, 1.746, "ok")]  # 5/6 s and 0.08 s in ms
    assert layout_compliance(rounded, OPTIONS)["rule_all"] == 100.0
    assert layout_compliance([], OPTIONS)["rule_all"] is None


def test_speech_timing_by_hand():
    ref = [Cue(10.0, 12.0, "a"), Cue(11.0, 14.0, "b")]  # speech 10-14 (4 s, overlap once)
    hyp = [
        Cue(9.5, 12.0, "x"),  # 9.7-12 near speech (0.2 s of it too early)
        Cue(12.0, 15.0, "y"),  # 12-14.3 near
        Cue(20.0, 21.0, "z"),  # far from speech
    ]
    figures = speech_timing(hyp, ref, tolerance=0.3)
    # Hypothesis time 5.5 + 1 s; near speech: 9.7-14.3 = 4.6 s.
    assert figures["hyp_time_near_speech"] == pytest.approx(100 * 4.6 / 6.5)
    assert figures["ref_speech_covered"] == pytest.approx(100.0)
    # Half the speech covered, and overlapping hypothesis cues count their time once.
    half = speech_timing([Cue(10.0, 12.0, "x"), Cue(10.5, 11.5, "y")], ref)
    assert half == {"hyp_time_near_speech": 100.0, "ref_speech_covered": 50.0}


def test_speech_timing_empty_cases():
    speech = [Cue(1.0, 2.0, "a")]
    assert speech_timing([], speech) == {"hyp_time_near_speech": 100.0, "ref_speech_covered": 0.0}
    assert speech_timing([Cue(5.0, 6.0, "You")], []) == {
        "hyp_time_near_speech": 0.0,
        "ref_speech_covered": 100.0,
    }
    assert speech_timing([], []) == {"hyp_time_near_speech": 100.0, "ref_speech_covered": 100.0}


def test_report_pools_cues_and_seconds_over_files():
    speech = [Cue(0.0, 4.0, "Hello there, how are you today?")]
    pairs = [
        (speech, speech),  # perfect
        ([Cue(10.0, 10.2, "You")], []),  # an invented cue on a file without speech
    ]
    per_file, overall = layout_report(pairs, OPTIONS)
    assert per_file[0]["rule_all"] == 100.0 and per_file[0]["cues_off_speech"] == 0
    assert per_file[1]["rule_all"] == 0.0 and per_file[1]["cues_off_speech"] == 1
    assert overall["cues"] == 2 and overall["rule_all"] == 50.0
    assert overall["hyp_time_near_speech"] == pytest.approx(100 * 4.0 / 4.2)
    assert overall["ref_speech_covered"] == 100.0


def test_score_cli_prints_and_writes_the_layout_section(tmp_path):
    ref = write_subtitles(
        [Cue(1.0, 3.0, "And so, my fellow Americans,"), Cue(3.5, 6.0, "ask not.")],
        tmp_path / "ref.srt",
    )
    hyp = write_subtitles(
        [Cue(1.0, 3.0, "And so, my fellow Americans,"), Cue(3.02, 12.0, "ask not.")],
        tmp_path / "hyp.srt",
    )
    result = run_score(
        "--hyp", hyp, "--ref", ref, "--metrics", "wer", "--max-duration", "10",
        "--json", tmp_path / "o.json", "--csv", tmp_path / "o.csv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    layout_rows = table_rows(result.stdout.split("\n\n", 2)[2])
    header = layout_rows[0]
    corpus = dict(zip(header, layout_rows[-1], strict=True))
    assert corpus["cues"] == "2" and corpus["gap %"] == "50.00"  # 0.02 s after the first
    assert corpus["max duration %"] == "100.00"  # 9 s is within --max-duration 10
    # 2 + 8.98 s of cues; speech widened by 0.3 s is 0.7-6.3, so 2 + 3.28 s of them.
    assert corpus["time near speech %"] == f"{100 * 5.28 / 10.98:.2f}"

    report = json.loads((tmp_path / "o.json").read_text())
    assert report["layout"]["corpus"]["ref_speech_covered"] == pytest.approx(100.0)
    assert report["settings"]["layout"]["options"]["max_duration"] == 10.0
    with open(tmp_path / "o.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert float(rows[-1]["rule_gap"]) == 50.0 and rows[-1]["hyp"] == "corpus"


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--max-line-width", "5", "--max-line-width 5: must be at least 10"),
        ("--max-lines", "0", "--max-lines 0: must be at least 1"),
        ("--max-cps", "0", "--max-cps 0: must be above 0"),
        ("--max-duration", "0.5", "--max-duration 0.5: must be at least the minimum duration"),
        ("--min-gap", "-1", "--min-gap -1: must be at least 0"),
    ],
)
def test_score_cli_refuses_impossible_layout_flags(tmp_path, flag, value, message):
    ref = write_subtitles([Cue(1.0, 3.0, "Hello.")], tmp_path / "ref.srt")
    result = run_score("--hyp", ref, "--ref", ref, flag, value)
    assert result.returncode == 2 and message in result.stderr
