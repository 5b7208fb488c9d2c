"""Languages out of the box: named models, --model auto routing, Chinese subtitles by
Netflix's Simplified Chinese rules, and CER for Chinese in score.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from app.chinese_text import chinese_words
from app.language_layout import layout_language_words
from app.layout import LayoutOptions
from data.chinese_script import convert_script
from data.language_rules import language_of_text, marks_kept
from data.subtitles import Cue, Word, read_subtitles, write_subtitles
from evaluation.scoring import score_paths
from evaluation.subtitle_layout import rule_counts
from model.named_models import SplitModel, assemble
from tests.conftest import ROOT

AISHELL = ROOT / "examples" / "aishell1_BAC009S0764W0121.wav"
AISHELL_TEXT = "甚至出现交易几乎停滞的情况"
# Whisper-like token pieces of two traditional-character sentences (punctuation half-width).
TOKENS = (
    "甚至 出 現 交易 幾乎 停 滯 的 情況, 我們 認為 這個 市場 還 會 繼續 下跌. "
    "經濟 學家 表示 , 房地產 市場 的 調整 將 持續 到 明年 年底 , 投資 者 應該 保持 謹慎 ."
).split()


def timed(tokens: list[str], step: float = 0.22) -> list[Word]:
    return [Word(i * step, i * step + step * 0.9, t) for i, t in enumerate(tokens)]


# ------------------------------------------------------------------ named models


def _split_model(tmp_path: Path, sha256: str | None = None) -> tuple[SplitModel, list[Path]]:
    data = tmp_path / "pkg1" / "data"
    data.mkdir(parents=True)
    (tmp_path / "pkg2" / "data").mkdir(parents=True)
    halves = [b"first half of the model " * 100, b"second half " * 100]
    parts = [data / "model.bin.part1", tmp_path / "pkg2" / "data" / "model.bin.part2"]
    for part, body in zip(parts, halves, strict=True):
        part.write_bytes(body)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (data / name).write_text("{}")
    whole = b"".join(halves)
    spec = SplitModel(
        "test", ("pkg1", "pkg2"), ("config.json", "tokenizer.json", "vocabulary.txt"),
        len(whole), sha256 or hashlib.sha256(whole).hexdigest(),
    )  # fmt: skip
    return spec, parts


def test_split_model_is_joined_once_and_checked(tmp_path):
    spec, parts = _split_model(tmp_path)
    folder = assemble(spec, parts, tmp_path / "cache")
    assert (folder / "model.bin").read_bytes() == parts[0].read_bytes() + parts[1].read_bytes()
    assert (folder / "tokenizer.json").exists()
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporaries left


def test_a_wrong_sha256_is_rejected_and_leaves_nothing(tmp_path):
    spec, parts = _split_model(tmp_path, sha256="0" * 64)
    with pytest.raises(ValueError, match="sha256 .* does not match"):
        assemble(spec, parts, tmp_path / "cache")
    assert not list((tmp_path / "cache" / "models").iterdir())


# ------------------------------------------------------------------ Chinese text


def test_chinese_words_are_simplified_full_width_and_whole_words():
    words = chinese_words(timed(TOKENS))
    texts = [w.text for w in words]
    assert "".join(texts) == convert_script("".join(texts), "simplified")
    assert "情况，" in texts and "停滞" in texts and "出现" in texts  # pieces joined
    assert "，" in "".join(texts) and "," not in "".join(texts)
    assert [w.text for w in chinese_words(timed(TOKENS), "traditional")][:2] == ["甚至", "出現"]
    assert all(a.end <= b.start + 1e-9 for a, b in zip(words, words[1:], strict=False))


def test_chinese_cues_keep_the_netflix_simplified_chinese_rules():
    words = timed(TOKENS * 3)
    cues = layout_language_words(words, "zh", LayoutOptions(), media_end=words[-1].end + 1)
    counts = rule_counts(cues, LayoutOptions(), "zh")
    assert counts["rule_all"] == counts["cues"] > 3, counts
    units = {w.text.rstrip("，。") for w in chinese_words(words)}
    for cue in cues:
        for line in cue.text.split("\n"):
            assert len(line) <= 16 and " " not in line
            assert line[-1] not in "，。、；：", line  # no comma or full stop ends a line
        # Every line break falls between two of jieba's words, never inside one.
        joined = cue.text.replace("\n", "")
        at = 0
        for line in cue.text.split("\n")[:-1]:
            at += len(line)
            left = joined[:at]
            assert any(left.endswith(u) for u in units if u), (cue.text, line)
    # English rules would have let a cue run to 42 characters a line.
    assert max(len(c.text.replace("\n", "")) for c in cues) <= 32


def test_language_marks_rule_and_script_detection():
    assert not marks_kept("我们认为，\n市场", "zh") and not marks_kept("市场 还会", "zh")
    assert not marks_kept("市场,还会", "zh") and marks_kept("市场，还会", "zh")
    assert marks_kept("Hello, world.", "en")
    assert language_of_text(AISHELL_TEXT) == "zh" and language_of_text("hello") is None
    assert language_of_text("こんにちは世界") == "ja" and language_of_text("안녕하세요") == "ko"


# ------------------------------------------------------------------ score.py


def test_chinese_is_scored_by_characters_in_one_script(tmp_path):
    ref = write_subtitles([Cue(0.5, 3.8, AISHELL_TEXT + "。")], tmp_path / "ref.srt")
    # Traditional characters, half-width punctuation and spaces: one real error (制).
    hyp = write_subtitles([Cue(0.3, 4.0, "甚至出現 交易幾乎停制的情況.")], tmp_path / "hyp.srt")
    report = score_paths(hyp, ref, ["wer", "cer"], use_java=False)
    assert report["files"][0]["language"] == "zh"
    assert report["corpus"]["cer"] == pytest.approx(100 / len(AISHELL_TEXT))
    assert report["corpus"]["wer"] is None  # no words without spaces
    assert report["layout"]["corpus"]["rule_marks"] == 0.0  # half-width mark, space
    english = score_paths(hyp, ref, ["cer"], use_java=False, language="en")
    assert english["corpus"]["cer"] > report["corpus"]["cer"]


# ------------------------------------------------------------------ real speech


@pytest.fixture(scope="session")
def base_model():
    from model.checkpoint import load_model

    return load_model("base", "cpu", captioning_only=True)


def test_base_subtitles_mandarin_in_simplified_chinese_by_its_rules(base_model):
    from app.subtitle_run import subtitle

    cues = subtitle(AISHELL, base_model)
    text = "".join(c.text for c in cues)
    assert text == convert_script(text, "simplified")
    counts = rule_counts(cues, LayoutOptions(), "zh")
    assert counts["rule_all"] == counts["cues"] >= 1
    errors = sum(a != b for a, b in zip(text, AISHELL_TEXT, strict=False))
    assert len(text) == len(AISHELL_TEXT) and errors <= 2, text
    assert 0.2 <= cues[0].start and cues[-1].end <= 4.3  # timed on the speech


def test_auto_routes_english_to_tiny_en_and_mandarin_to_base(
    tmp_path, base_model, fast_default_model, jfk_audio
):
    """A mixed folder with no options: each file in its language, and the English file
    byte for byte what `--model tiny.en` writes for the whole folder, where it shares its
    batches with the Mandarin file (int8 activations are scaled row by row, so a window's
    words do not depend on the other windows of its batch)."""
    from app.folder import caption_files, find_jobs
    from app.language_routing import caption_files_auto
    from app.options import SubtitleOptions
    from app.subtitle_run import BatchOptions
    from tests.media_factory import make_audio

    media = tmp_path / "media"
    media.mkdir()
    make_audio(media / "jfk.wav", jfk_audio)
    (media / "zh.wav").write_bytes(AISHELL.read_bytes())
    jobs, _ = find_jobs([str(media)])
    models = {"base": base_model, "tiny.en": fast_default_model}
    batch = BatchOptions(workers=0)
    auto = caption_files_auto(
        jobs, models.__getitem__, tmp_path / "auto", ("srt", "json"), SubtitleOptions(),
        False, None, batch, None,
    )  # fmt: skip
    assert auto.routes == {media / "jfk.wav": ("tiny.en", "en"), media / "zh.wav": ("base", "zh")}
    caption_files(jobs, fast_default_model, tmp_path / "tiny", ("srt",), batch=batch)
    assert (tmp_path / "auto" / "jfk.srt").read_bytes() == (
        tmp_path / "tiny" / "jfk.srt"
    ).read_bytes()
    assert "甚至" in read_subtitles(tmp_path / "auto" / "zh.srt")[0].text
    assert '"language": "zh"' in (tmp_path / "auto" / "zh.json").read_text()
