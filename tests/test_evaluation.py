"""evaluation/: parity with direct pycocoevalcap calls, subtitle-metric invariants, pairing."""

from __future__ import annotations

import jiwer
import pytest

from bench.bench_scoring import direct_pycocoevalcap, make_caption_set
from data.subtitles import Cue
from evaluation.caption_metrics import score_caption_sets, tokenize
from evaluation.caption_sets import CaptionSetError, load_hypotheses, load_references
from evaluation.file_pairing import AmbiguousPairError, pair_folders
from evaluation.subtitle_metrics import score_subtitle_corpus, score_subtitles
from evaluation.text_norm import normalise
from evaluation.time_pairing import pair_hypothesis_words, word_times

needs_java = pytest.mark.needs_tool("java")  # PTBTokenizer and METEOR


@pytest.fixture(scope="module")
def caption_sets():
    """Hypotheses that share some words with their references, like a real captioner's."""
    hyps, refs = make_caption_set(videos=60, refs_per_video=5, seed=0)
    hyps["video3"] = ""  # an empty caption is scored, not an error
    return hyps, refs


@needs_java
def test_caption_metrics_equal_direct_pycocoevalcap(caption_sets):
    hyps, refs = caption_sets
    assert len(refs) >= 50 and all(len(r) == 5 for r in refs.values())
    direct = direct_pycocoevalcap(hyps, refs)  # as COCOEvalCap.evaluate() does it, x100
    ours = score_caption_sets(hyps, refs)
    assert set(ours) == set(direct)
    for key, value in direct.items():
        assert ours[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert 0 < ours["bleu4"] < ours["bleu1"] < 100 and 0 < ours["cider"]


def test_caption_metrics_without_java_skip_meteor_and_still_score(caption_sets):
    hyps, refs = caption_sets
    scores = score_caption_sets(hyps, refs, use_java=False)
    assert scores["meteor"] is None
    assert 0 < scores["bleu4"] < scores["bleu1"] < 100
    assert 0 < scores["rougeL"] < 100 and scores["cider"] > 0
    perfect = score_caption_sets(
        {k: v[0] for k, v in refs.items()}, refs, metrics=["bleu4"], use_java=False
    )
    assert perfect["bleu4"] > scores["bleu4"]


def test_fallback_tokenizer_lowercases_and_drops_punctuation():
    assert tokenize(["A Man, walking...", "", "  "], use_java=False) == ["a man walking", "", ""]


@needs_java
def test_ptb_tokenizer_keeps_one_line_per_caption():
    texts = ["Hello, World!", "", "two\nlines here", "It's   fine."]
    assert tokenize(texts, use_java=True) == ["hello world", "", "two lines here", "it 's fine"]


def test_caption_metric_arguments_are_checked(caption_sets):
    hyps, refs = caption_sets
    with pytest.raises(ValueError, match="not a caption metric: wer"):
        score_caption_sets(hyps, refs, metrics=["wer"])
    with pytest.raises(ValueError, match="no id has both"):
        score_caption_sets({"other": "x"}, refs)


# ---------------------------------------------------------------------------- subtitles

SPEECH = (
    "And so, my fellow Americans: ask not what your country can do for you, ask what you can do "
    "for your country. My fellow citizens of the world, ask not what America will do for you, "
    "but what together we can do for the freedom of man."
).split()


def make_cues(words_per_cue: int = 5, seconds_per_cue: float = 2.0) -> list[Cue]:
    chunks = [SPEECH[i : i + words_per_cue] for i in range(0, len(SPEECH), words_per_cue)]
    return [
        Cue(i * seconds_per_cue, (i + 0.9) * seconds_per_cue, " ".join(chunk))
        for i, chunk in enumerate(chunks)
    ]


def shifted(cues: list[Cue], seconds: float) -> list[Cue]:
    return [Cue(cue.start + seconds, cue.end + seconds, cue.text) for cue in cues]


ALL_SUBTITLE_METRICS = ["wer", "cer", "suber", "t_bleu", "sacrebleu", "bleu4", "rougeL", "cider"]


@pytest.mark.parametrize("use_java", [pytest.param(True, marks=needs_java), False])
def test_identical_subtitles_are_perfect(use_java):
    ref = make_cues()
    scores = score_subtitles(ref, ref, use_java=use_java)
    assert list(scores) == ALL_SUBTITLE_METRICS
    assert scores["wer"] == 0 and scores["cer"] == 0 and scores["suber"] == 0
    assert scores["sacrebleu"] == pytest.approx(100)
    assert scores["t_bleu"] == pytest.approx(100)
    assert scores["bleu4"] == pytest.approx(100, abs=1e-6)
    assert scores["rougeL"] == pytest.approx(100)


@pytest.mark.parametrize("use_java", [pytest.param(True, marks=needs_java), False])
def test_shifting_by_ten_seconds_keeps_wer_and_hurts_timed_metrics(use_java):
    ref = make_cues()
    same = score_subtitles(ref, ref, use_java=use_java)
    late = score_subtitles(shifted(ref, 10.0), ref, use_java=use_java)
    assert late["wer"] == same["wer"] == 0
    assert late["cer"] == same["cer"]
    assert late["sacrebleu"] == pytest.approx(same["sacrebleu"])  # whole-file text, timing ignored
    assert late["suber"] > same["suber"]
    for key in ("t_bleu", "bleu4", "rougeL", "cider"):
        assert late[key] < same[key], key


def test_a_small_shift_hurts_less_than_a_large_one():
    ref = make_cues()
    small = score_subtitles(shifted(ref, 0.3), ref, use_java=False)
    large = score_subtitles(shifted(ref, 10.0), ref, use_java=False)
    assert small["suber"] < large["suber"]
    assert small["bleu4"] > large["bleu4"]


def test_empty_hypothesis_scores_wer_100():
    scores = score_subtitles([], make_cues(), use_java=False)
    assert scores["wer"] == 100 and scores["cer"] == 100 and scores["suber"] == 100
    assert (
        scores["sacrebleu"] == 0
        and scores["t_bleu"] == 0
        and scores["bleu4"] == pytest.approx(0, abs=1e-6)
    )


def test_empty_reference_leaves_rates_undefined_not_crashing():
    scores = score_subtitles(make_cues(), [], use_java=False)
    assert scores["wer"] is None and scores["sacrebleu"] is None and scores["bleu4"] is None
    assert scores["suber"] == 100


def test_wer_normalisation_ignores_case_punctuation_and_number_spelling():
    ref = [Cue(0, 3, "I counted Twenty-Five apples, in 1961!")]
    hyp = [Cue(0, 3, "i counted 25 apples in nineteen sixty one")]
    assert normalise(ref[0].text) == "i counted 25 apples in 1961"
    assert score_subtitles(hyp, ref, metrics=["wer", "cer"], use_java=False) == {
        "wer": 0.0,
        "cer": 0.0,
    }


def test_wer_is_over_the_whole_file_whatever_the_cue_split():
    ref = make_cues(words_per_cue=5)
    resplit = make_cues(words_per_cue=7)
    scores = score_subtitles(resplit, ref, metrics=["wer", "suber"], use_java=False)
    assert scores["wer"] == 0
    assert scores["suber"] > 0  # cue breaks differ, and SubER counts them


def test_overlapping_cues_are_scored_in_time_order():
    ref = make_cues()
    # Same cues, listed out of order, one duplicated as an overlapping second speaker.
    hyp = list(reversed(ref)) + [Cue(ref[0].start + 0.2, ref[0].end + 0.2, "overlapping voice")]
    scores = score_subtitles(hyp, ref, use_java=False)
    expected_wer = 100.0 * 2 / len(normalise(" ".join(SPEECH)).split())
    assert scores["wer"] == pytest.approx(expected_wer)
    assert 0 < scores["suber"] < 20


def test_corpus_pools_error_counts_instead_of_averaging_files():
    first_ref = make_cues()
    first_hyp = [Cue(c.start, c.end, c.text) for c in first_ref[1:]]  # first cue missed
    second_ref = [Cue(0, 2, "hello world")]
    second_hyp = [Cue(0, 2, "goodbye moon")]
    files, corpus = score_subtitle_corpus(
        [(first_hyp, first_ref), (second_hyp, second_ref)], metrics=["wer", "suber"], use_java=False
    )
    ref_words = [normalise(" ".join(c.text for c in first_ref)), "hello world"]
    hyp_words = [normalise(" ".join(c.text for c in first_hyp)), "goodbye moon"]
    pooled = jiwer.process_words(ref_words, hyp_words)
    errors = pooled.substitutions + pooled.deletions + pooled.insertions
    assert corpus["wer"] == pytest.approx(100.0 * errors / sum(len(r.split()) for r in ref_words))
    assert files[1]["wer"] == 100
    assert corpus["wer"] < (files[0]["wer"] + files[1]["wer"]) / 2
    assert min(f["suber"] for f in files) < corpus["suber"] < max(f["suber"] for f in files)


def test_unknown_subtitle_metric_is_refused():
    with pytest.raises(ValueError, match="not a subtitle metric: meteor"):
        score_subtitles([], [], metrics=["meteor"])


# ---------------------------------------------------------------------------- time pairing


def test_words_spread_evenly_over_their_cue():
    assert word_times(Cue(10.0, 14.0, "a b\nc d")) == [
        (10.5, "a"),
        (11.5, "b"),
        (12.5, "c"),
        (13.5, "d"),
    ]
    assert word_times(Cue(1.0, 2.0, "   ")) == []


def test_each_reference_cue_gets_the_words_inside_it():
    refs = [Cue(0, 2, "r1"), Cue(2, 4, "r2"), Cue(10, 12, "r3")]
    hyps = [Cue(1, 3, "one two three four"), Cue(5, 6, "lost"), Cue(11, 11.5, "late")]
    # one at 1.25, two at 1.75 -> r1; three at 2.25, four at 2.75 -> r2; "lost" is in no cue.
    assert pair_hypothesis_words(hyps, refs) == ["one two", "three four", "late"]


def test_overlapping_reference_cues_take_each_word_once_by_nearest_middle():
    refs = [Cue(0, 10, "long"), Cue(6, 8, "short")]  # "short" lies inside "long"
    hyps = [Cue(0, 10, "a b c d e f g h i j")]  # one word per second, at 0.5, 1.5, ...
    long_words, short_words = pair_hypothesis_words(hyps, refs)
    # 6.5 and 7.5 are nearer the middle of "short" (7) than that of "long" (5).
    assert short_words == "g h"
    assert long_words == "a b c d e f i j"
    assert sorted((long_words + " " + short_words).split()) == sorted("a b c d e f g h i j".split())


def test_overlapping_hypothesis_cues_are_read_in_time_order():
    refs = [Cue(0, 10, "r")]
    hyps = [Cue(0, 10, "first third"), Cue(2, 4, "second")]  # 2.5, 7.5 and 3.0
    assert pair_hypothesis_words(hyps, refs) == ["first second third"]


# ---------------------------------------------------------------------------- loading and pairing


def test_caption_set_shapes(tmp_path):
    (tmp_path / "h1.json").write_text('{"v1": "a cat", "2": "a dog"}', encoding="utf-8")
    (tmp_path / "h2.json").write_text(
        '[{"image_id": 2, "caption": "a dog"}, {"video_id": "v1", "caption": "a cat"}]',
        encoding="utf-8",
    )
    assert load_hypotheses(tmp_path / "h1.json") == load_hypotheses(tmp_path / "h2.json")
    (tmp_path / "r1.json").write_text(
        '{"v1": ["a cat", "one cat"], "v2": "a dog"}', encoding="utf-8"
    )
    (tmp_path / "r2.json").write_text(
        '[{"video_id": "v1", "caption": "a cat"}, {"video_id": "v2", "caption": "a dog"},'
        ' {"video_id": "v1", "caption": "one cat"}]',
        encoding="utf-8",
    )
    (tmp_path / "msrvtt.json").write_text(
        '{"info": {}, "videos": [{"video_id": "v1"}], "sentences": [{"sen_id": 0, "video_id": "v1",'
        ' "caption": "a cat"}, {"sen_id": 1, "video_id": "v2", "caption": "a dog"},'
        ' {"sen_id": 2, "video_id": "v1", "caption": "one cat"}]}',
        encoding="utf-8",
    )
    expected = {"v1": ["a cat", "one cat"], "v2": ["a dog"]}
    for name in ("r1.json", "r2.json", "msrvtt.json"):
        assert load_references(tmp_path / name) == expected, name


def test_caption_set_errors_name_the_file(tmp_path):
    (tmp_path / "dup.json").write_text(
        '[{"video_id": 1, "caption": "a"}, {"video_id": 1, "caption": "b"}]'
    )
    with pytest.raises(CaptionSetError, match=r"dup\.json: id '1' has more than one hypothesis"):
        load_hypotheses(tmp_path / "dup.json")
    (tmp_path / "bad.json").write_text('{"v1": ["a",\n 3]}')
    with pytest.raises(CaptionSetError, match=r"bad\.json: id 'v1'"):
        load_references(tmp_path / "bad.json")


def test_folders_pair_by_relative_path_without_extension(tmp_path):
    for name in ("hyp/a.srt", "hyp/deep/b.vtt", "hyp/extra.srt", "hyp/.tmp-x.srt", "hyp/readme.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    for name in ("ref/a.vtt", "ref/deep/b.srt", "ref/missing.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    pairs, unmatched = pair_folders(tmp_path / "hyp", tmp_path / "ref")
    assert [
        (h.relative_to(tmp_path).as_posix(), r.relative_to(tmp_path).as_posix()) for h, r in pairs
    ] == [
        ("hyp/a.srt", "ref/a.vtt"),
        ("hyp/deep/b.vtt", "ref/deep/b.srt"),
    ]
    assert unmatched == [
        {"path": str(tmp_path / "hyp/extra.srt"), "only_in": "hyp"},
        {"path": str(tmp_path / "ref/missing.json"), "only_in": "ref"},
    ]
    (tmp_path / "hyp/a.vtt").write_text("")
    with pytest.raises(AmbiguousPairError, match="same name"):
        pair_folders(tmp_path / "hyp", tmp_path / "ref")
