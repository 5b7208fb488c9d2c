"""data/subtitle_rules.py is the one definition of the layout limits: caption.py, score.py
and the web page refuse the same settings with the same words."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from app.layout_args import add_layout_arguments, layout_options_from_args
from data.subtitle_rules import RULES, LayoutOptions, layout_problems, rules_kept
from data.subtitles import Cue

IMPOSSIBLE = [
    (replace(LayoutOptions(), max_line_width=9), "max_line_width"),
    (replace(LayoutOptions(), max_lines=0), "max_lines"),
    (replace(LayoutOptions(), max_cps=float("nan")), "max_cps"),
    (replace(LayoutOptions(), max_duration=0.5), "max_duration"),
    (replace(LayoutOptions(), min_gap=7.0), "min_gap"),
]


def test_the_defaults_and_the_limits():
    assert layout_problems(LayoutOptions()) == []
    for options, field in IMPOSSIBLE:
        assert [name for name, _ in layout_problems(options)] == [field]


@pytest.mark.parametrize("options, field", IMPOSSIBLE)
def test_command_lines_and_page_word_the_same_problem(options, field, capsys):
    from app.web import RequestError, page_layout

    (problem,) = [text for name, text in layout_problems(options) if name == field]
    parser = argparse.ArgumentParser()
    add_layout_arguments(parser)
    flags = [f"--{name.replace('_', '-')}={getattr(options, name)}" for name in
             ("max_line_width", "max_lines", "max_cps", "max_duration", "min_gap")]  # fmt: skip
    with pytest.raises(SystemExit):
        layout_options_from_args(parser.parse_args(flags), parser)
    assert problem in capsys.readouterr().err
    if field in ("max_line_width", "max_cps", "max_duration"):  # the page's three controls
        with pytest.raises(RequestError, match=problem):
            page_layout(options.max_line_width, options.max_cps, options.max_duration)


def test_a_cue_is_checked_against_every_rule():
    options = LayoutOptions()
    good = Cue(0.0, 2.0, "A short line.")
    assert rules_kept(good, Cue(2.08, 3.0, "Next."), options) == dict.fromkeys(RULES, True)
    bad = Cue(0.0, 0.5, "x" * 43 + "\n" + "y\nz")
    kept = rules_kept(bad, Cue(0.45, 1.0, "Overlaps."), options)
    assert kept == {
        "line_width": False,
        "line_count": False,
        "min_duration": False,
        "max_duration": True,
        "cps": False,
        "gap": False,
        "marks": True,  # English has no marks rules of its own
    }
