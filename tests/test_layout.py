"""Layout rules: line breaks a reader expects, and word-timed cues that keep every rule."""

from __future__ import annotations

import itertools
import random
import textwrap

import pytest

from app.layout import LayoutOptions, break_lines, cue_characters, layout_segment, layout_words
from data.subtitles import Word
from evaluation.subtitle_layout import layout_compliance

OPTIONS = LayoutOptions()
VOCABULARY = """the a of and to in is you that it he was for on are as with his they I at be
this have from or one had by word but not what all were we when your can said there use
an each which she do how their if will up other about out many then them these so some
her would make like him into time has look two more write go see number no way could
people my than first water been call who oil its now find long down day did get come
made may part sound because although government information something everything
children remember important especially understand together different themselves""".split()


def spoken(text: str, start: float, rate: float) -> list[Word]:
    """`text` spoken from `start` at `rate` characters per second, a space's time between
    words: its characters divided by its time is exactly `rate`."""
    words, t = [], start
    for piece in text.split():
        words.append(Word(t, t + len(piece) / rate, piece))
        t += (len(piece) + 1) / rate
    return words


def realistic_speech(seed: int, minutes: float = 5.0) -> list[Word]:
    """Sentences of 2-30 words at 10-18 characters per second, commas, hesitations
    (some longer than `max_pause`) and silences of 0.1-30 s between sentences."""
    rng = random.Random(seed)
    words: list[Word] = []
    t = rng.uniform(0.0, 3.0)
    while t < minutes * 60:
        rate = rng.uniform(10.0, 18.0)
        for index in range(rng.randint(2, 30)):
            text = rng.choice(VOCABULARY)
            if index == 0:
                text = text.capitalize()
            mark = rng.random()
            duration = len(text) / rate
            words.append(Word(t, t + duration, text))
            t += duration + 1 / rate
            if mark < 0.08:
                words[-1] = Word(words[-1].start, words[-1].end, text + ",")
                t += rng.uniform(0.0, 0.5)
            elif mark < 0.12:
                t += rng.uniform(0.2, 2.0)  # hesitation inside a sentence
        words[-1] = Word(words[-1].start, words[-1].end, words[-1].text + rng.choice(".?!"))
        t += rng.choice([rng.uniform(0.1, 1.0), rng.uniform(0.5, 3.0), rng.uniform(10.0, 30.0)])
    return words


def assert_keeps_every_rule(cues, words, options=OPTIONS):
    figures = layout_compliance(cues, options)
    failing = {key: value for key, value in figures.items() if value != 100.0}
    assert not failing, failing
    # Every word exactly once, in order: splitting never damages the text.
    assert " ".join(cue.text.replace("\n", " ") for cue in cues) == " ".join(
        word.text for word in words
    )
    for earlier, later in itertools.pairwise(cues):
        assert earlier.end <= later.start


def cue_words(cues, words):
    """The words of each cue, in order."""
    counts = [len(cue.text.split()) for cue in cues]
    out, index = [], 0
    for count in counts:
        out.append(words[index : index + count])
        index += count
    return out


# ----------------------------------------------------------------------------- lines


def test_text_that_fits_one_line_stays_one_line():
    assert break_lines("  Ask what you can do   for your country. ", OPTIONS) == [
        "Ask what you can do for your country."
    ]
    assert break_lines("x" * 42, OPTIONS) == ["x" * 42]
    assert break_lines("", OPTIONS) == []


def test_line_break_after_punctuation_is_preferred_to_a_balanced_one():
    text = "I went to the market early, and bought some apples there"
    assert break_lines(text, OPTIONS) == [
        "I went to the market early,",
        "and bought some apples there",
    ]
    # Punctuation wins even where another break would be more even.
    text = "Yes, we went to the old market to buy apples"
    assert break_lines(text, OPTIONS) == ["Yes,", "we went to the old market to buy apples"]


def test_line_break_before_a_conjunction_or_preposition():
    lines = break_lines("My fellow citizens ask what you can do for your great country", OPTIONS)
    assert lines == ["My fellow citizens ask what you can do", "for your great country"]
    lines = break_lines("We saw the big old dog and the tiny white cat in the garden", OPTIONS)
    assert lines[1].split()[0] in {"and", "in"}


def test_without_punctuation_or_conjunction_lines_are_balanced():
    lines = break_lines("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda", OPTIONS)
    assert lines == ["alpha beta gamma delta epsilon", "zeta eta theta iota kappa lambda"]


def test_lines_never_break_inside_a_word_and_keep_their_limits():
    rng = random.Random(1)
    for _ in range(300):
        text = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(1, 16)))
        if len(textwrap.wrap(text, 42)) > 2:  # no split could fit it
            continue
        lines = break_lines(text, OPTIONS)
        assert " ".join(lines) == text
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines)


def test_three_lines_when_allowed_and_needed():
    options = LayoutOptions(max_line_width=20, max_lines=3)
    lines = break_lines("one two three four five six seven eight nine ten", options)
    assert len(lines) == 3 and all(len(line) <= 20 for line in lines)


def test_text_too_long_for_a_cue_comes_back_wrapped_not_cut():
    lines = break_lines("word " * 30, OPTIONS)
    assert len(lines) > 2 and " ".join(lines) == " ".join(["word"] * 30)


# ----------------------------------------------------------------------------- words


@pytest.mark.parametrize("seed", range(8))
def test_five_minutes_of_realistic_speech_keep_every_rule(seed):
    words = realistic_speech(seed)
    cues = layout_words(words, OPTIONS)
    assert_keeps_every_rule(cues, words)
    for cue, said in zip(cues, cue_words(cues, words), strict=True):
        # The cue hugs its words: it shows while they are spoken ...
        assert cue.start <= said[0].start + OPTIONS.min_gap and cue.end >= said[-1].end - 0.05
        # ... and never across a long pause.
        gaps = [b.start - a.end for a, b in itertools.pairwise(said)]
        assert all(gap < OPTIONS.max_pause for gap in gaps)


def test_jittered_aligner_times_overlapping_words_keep_every_rule():
    """Word times as an aligner gives them: edges off by up to 60 ms, neighbours overlapping."""
    rng = random.Random(11)
    words = [
        Word(max(0.0, w.start + rng.uniform(-0.06, 0.06)), w.end + rng.uniform(-0.06, 0.06), w.text)
        for w in realistic_speech(11)
    ]
    assert_keeps_every_rule(layout_words(words, OPTIONS), words)


def test_impossible_word_times_still_give_ordered_cues_with_every_word():
    """Words piled on each other, zero-length, 9 s long, past the media's end: rules may
    break, order may not."""
    rng = random.Random(3)
    for _ in range(500):
        words, t = [], 0.0
        for _ in range(rng.randint(1, 60)):
            start = max(0.0, t + rng.uniform(-0.3, 0.5))
            duration = rng.choice([0.0, 0.001, 0.01, rng.uniform(0, 1.5), rng.uniform(0, 9)])
            words.append(Word(start, start + duration, rng.choice(VOCABULARY)))
            t = start + duration * rng.random()
        cues = layout_words(words, OPTIONS, media_end=rng.choice([None, t + rng.uniform(-1, 2)]))
        assert sorted(" ".join(c.text for c in cues).split()) == sorted(w.text for w in words)
        assert all(c.end > c.start for c in cues)
        for earlier, later in itertools.pairwise(cues):
            assert later.start - earlier.end >= OPTIONS.min_gap - 0.001


@pytest.mark.parametrize("seed", [4, 5, 6, 7])
def test_other_rules_are_kept_too(seed):
    options = LayoutOptions(max_line_width=32, max_lines=1, max_duration=5, min_gap=0.12)
    words = realistic_speech(seed, minutes=3)
    assert_keeps_every_rule(layout_words(words, options), words, options)


def test_cues_end_at_sentence_ends_when_they_can():
    words = spoken("I came home late. The dog was asleep by the fire.", 1.0, 14)
    cues = layout_words(words, OPTIONS)
    assert [cue.text for cue in cues] in (
        ["I came home late.\nThe dog was asleep by the fire."],
        ["I came home late.", "The dog was asleep by the fire."],
    )
    words = spoken(
        "We walked along the river for hours and hours. Then it started to rain quite heavily "
        "so we ran back to the car.",
        0.0,
        15,
    )
    cues = layout_words(words, OPTIONS)
    assert cues[0].text.replace("\n", " ").endswith("hours and hours.")


def test_timing_hugs_the_words():
    words = spoken("Ask what you can do for your country.", 10.0, 14)
    (cue,) = layout_words(words, OPTIONS)
    assert cue.start == pytest.approx(10.0 - OPTIONS.lead_in, abs=0.001)
    assert cue.end == pytest.approx(words[-1].end + OPTIONS.lead_out, abs=0.001)


def test_one_very_short_word_lasts_the_minimum_duration():
    words = [Word(5.0, 5.1, "Yes.")]
    (cue,) = layout_words(words, OPTIONS)
    assert cue.end - cue.start == pytest.approx(OPTIONS.min_duration, abs=0.001)
    assert cue.start == pytest.approx(4.8)  # its lead-in; the rest is taken after


def test_short_word_between_close_neighbours_keeps_the_gap():
    words = [
        *spoken("We need to leave now.", 0.0, 15),
        Word(1.6, 1.75, "No."),
        *spoken("Not yet, we stay here.", 2.0, 15),
    ]
    cues = layout_words(words, OPTIONS)
    assert_keeps_every_rule(cues, words)


def test_a_long_pause_inside_a_sentence_splits_the_cue():
    words = [*spoken("I was going to", 1.0, 14), *spoken("say something.", 5.0, 14)]
    cues = layout_words(words, OPTIONS)
    assert [cue.text for cue in cues] == ["I was going to", "say something."]
    assert cues[0].end <= words[3].end + OPTIONS.lead_out + 0.001
    assert cues[1].start >= 5.0 - OPTIONS.lead_in - 0.001
    assert_keeps_every_rule(cues, words)


def test_speech_faster_than_max_cps_uses_the_silence_after_it():
    text = "Quick, everybody get inside right now!"  # 38 characters in 1.3 s
    words = spoken(text, 2.0, 30)
    (cue,) = layout_words(words, OPTIONS)
    assert cue_characters(cue.text) / (cue.end - cue.start) <= OPTIONS.max_cps + 0.01
    assert cue.start >= 2.0 - OPTIONS.lead_in - 0.001  # the time comes after the words


def test_speech_faster_than_max_cps_without_silence_keeps_its_words_and_other_rules():
    words = spoken(" ".join(random.Random(7).choice(VOCABULARY) for _ in range(200)), 0.0, 30)
    cues = layout_words(words, OPTIONS)
    figures = layout_compliance(cues, OPTIONS)
    assert figures["rule_cps"] < 100  # no layout can make 30 cps readable at 20 ...
    for rule in ("line_width", "line_count", "min_duration", "max_duration", "gap"):
        assert figures[f"rule_{rule}"] == 100.0, rule
    # ... but it does not make it worse than the speech itself.
    assert all(cue_characters(c.text) / (c.end - c.start) < 32 for c in cues)
    assert " ".join(c.text.replace("\n", " ") for c in cues) == " ".join(w.text for w in words)


def test_cue_before_a_long_silence_ends_soon_after_the_speech():
    words = spoken("That is all for today, thank you.", 3.0, 15)
    after = spoken("Good morning.", 40.0, 12)
    cues = layout_words(words + after, OPTIONS)
    assert len(cues) == 2
    assert cues[0].end == pytest.approx(words[-1].end + OPTIONS.lead_out, abs=0.001)
    assert cues[1].start == pytest.approx(40.0 - OPTIONS.lead_in, abs=0.001)


def test_no_cue_outlasts_the_media_or_starts_before_it():
    words = spoken("Hello.", 0.05, 12)
    (cue,) = layout_words(words, OPTIONS, media_end=0.7)
    assert cue.start == 0.0 and cue.end <= 0.7


def test_unsorted_and_empty_words_are_handled():
    words = spoken("one two three four", 1.0, 12)
    cues = layout_words([words[2], Word(2.0, 2.0, " "), words[0], words[3], words[1]], OPTIONS)
    assert [cue.text for cue in cues] == ["one two three four"]
    assert layout_words([], OPTIONS) == []


# -------------------------------------------------------------------------- segments


def test_segment_that_fits_stays_one_cue_at_its_own_times():
    cues = layout_segment(8.0, 11.0, "ask what you can do for your country.", OPTIONS)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (8.0, 11.0, "ask what you can do for your country.")
    ]


def test_long_segment_is_split_within_its_time_keeping_the_rules():
    text = (
        "We choose to go to the moon in this decade and do the other things, not because "
        "they are easy, but because they are hard, because that goal will serve to organize "
        "and measure the best of our energies and skills."
    )
    cues = layout_segment(10.0, 24.0, text, OPTIONS)
    assert cues[0].start == 10.0 and cues[-1].end == 24.0
    assert " ".join(c.text.replace("\n", " ") for c in cues) == text
    figures = layout_compliance(cues, OPTIONS)
    assert figures["rule_all"] == 100.0, figures


def test_segment_longer_than_max_duration_is_split():
    cues = layout_segment(
        0.0, 8.0, "And so, my fellow Americans ask not what your country can do for you", OPTIONS
    )
    assert len(cues) == 2 and all(c.end - c.start <= 7.0 for c in cues)
    assert cues[1].start - cues[0].end == pytest.approx(OPTIONS.min_gap, abs=0.001)
