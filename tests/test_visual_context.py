"""The picture helps: text on screen is read (OCR) and its rare words guide the decoding."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from app.options import SubtitleOptions
from app.screen_terms import (
    PROMPT_TOKENS,
    Prompt,
    build_prompt,
    content_lines,
    context_helped,
    ranked_terms,
)
from app.subtitle_run import file_details, subtitle_file
from data.screen_text import ScreenLine, ScreenText, read_lines, read_screen_text
from data.subtitles import format_subtitles

needs_espeak = pytest.mark.needs_tool("espeak-ng")


@pytest.fixture(scope="module")
def tokenizer(fast_default_model):
    return fast_default_model.tokenizer


def test_ocr_reads_the_terms_on_a_rendered_slide():
    from bench.lecture_media import draw_slide

    slide = draw_slide(
        "Cluster scheduling", ["Kubernetes, nodeAffinity", "taints", "Dr. Okonkwo"], 3
    )
    texts = [text for text, _ in read_lines(slide)]
    assert "Cluster scheduling" in texts
    for term in ("Kubernetes", "nodeAffinity", "taints", "Okonkwo"):
        assert any(term in text for text in texts), (term, texts)


def test_prompt_keeps_rare_words_rarest_first_within_the_token_budget(tokenizer):
    lines = ("Office hours on Tuesday afternoon", "Kubernetes, nodeAffinity and taints")
    terms = ranked_terms(lines, tokenizer, "en")
    # Common words are no use as context; the rarest (most tokens) come first.
    assert "Office" not in terms and "Tuesday" not in terms and "afternoon" not in terms
    assert set(terms) >= {"Kubernetes", "nodeAffinity"}
    rarity = [len(tokenizer.encode(" " + t)) for t in terms]
    assert rarity == sorted(rarity, reverse=True)
    many = [f"Zyxwvut{chr(97 + i)}qplm" for i in range(40)]
    prompt = build_prompt(many, tokenizer)
    assert len(prompt.tokens) <= PROMPT_TOKENS
    assert 0 < len(prompt.terms) < len(many)
    assert list(prompt.terms) == many[: len(prompt.terms)]  # the most useful ones kept
    assert tokenizer.decode(prompt.tokens).strip() == ", ".join(prompt.terms) + "."


def test_a_prompted_text_is_kept_only_when_it_uses_the_terms_without_copying_them():
    prompt = Prompt([], ("Kubernetes", "nodeAffinity", "taints"))
    assert context_helped("The Kubernetes scheduler places each pod.", prompt, 1.2, 2.4)
    assert not context_helped("The scheduler places each pod.", prompt, 1.2, 2.4)  # unrelated
    assert not context_helped("Kubernetes, nodeAffinity, taints.", prompt, 1.2, 2.4)  # copied
    looping = "Kubernetes is Kubernetes and Kubernetes again in the cluster."
    assert not context_helped(looping, prompt, 1.2, 2.4)
    assert not context_helped("The Kubernetes scheduler.", prompt, 3.0, 2.4)  # repetitive


def test_watermarks_and_burned_in_subtitles_are_not_context():
    logo = [ScreenLine("ACME NEWS", 0.0, 60.0, (0.8, 0.02, 0.95, 0.06))]
    slides = [ScreenLine(f"Slide {k} Zyxw", 20.0 * k, 20.0 * k + 20, (0.1, 0.1, 0.5, 0.2))
              for k in range(3)]  # fmt: skip
    subtitles = [ScreenLine(f"said line {k}", 3.0 * k, 3.0 * k + 3, (0.3, 0.85, 0.7, 0.92))
                 for k in range(5)]  # fmt: skip
    kept = content_lines(ScreenText(tuple(logo + slides + subtitles), pictures=5, duration=60.0))
    assert kept == slides


def _clip(tmp_path, name: str, picture: np.ndarray | None):
    from bench.lecture_media import FPS, LECTURES, SIZE
    from bench.lost_speech_media import speak
    from bench.shot_media import write_video

    speech = speak(LECTURES[1][0], "en-gb", 165)
    pad = np.zeros(12800, np.float32)
    audio = np.concatenate([pad, speech, pad])
    frame = picture if picture is not None else np.full((SIZE[1], SIZE[0], 3), 16, np.uint8)
    path = tmp_path / f"{name}.mp4"
    write_video(path, [frame] * int(len(audio) / 16000 * FPS + 1), FPS, SIZE, audio, "veryfast")
    return path


@needs_espeak
def test_the_slide_spells_what_the_speech_says_and_an_unrelated_one_changes_nothing(
    tmp_path, fast_default_model
):
    from bench.lecture_media import draw_slide, slide_lines

    auto, off = SubtitleOptions(), SubtitleOptions(visual_context="off")
    blank = subtitle_file(_clip(tmp_path, "blank", None), fast_default_model, auto)
    blank_off = subtitle_file(_clip(tmp_path, "blank", None), fast_default_model, off)
    assert blank.cues == blank_off.cues  # no text on screen: as with --visual-context off
    assert "Kubernetes" not in " ".join(c.text for c in blank.cues)

    slide = _clip(tmp_path, "slide", draw_slide(*slide_lines(1), style=1))
    shown = subtitle_file(slide, fast_default_model, auto)
    text = " ".join(c.text for c in shown.cues)
    assert "Kubernetes" in text and "taints" in text
    assert "Kubernetes" in shown.cues[0].screen_terms
    json_text = format_subtitles(shown.cues, "json", file_details(shown))
    assert '"screen_terms"' in json_text
    assert subtitle_file(slide, fast_default_model, off).cues == blank.cues

    unrelated = _clip(tmp_path, "other", draw_slide(*slide_lines(19), style=3))  # compilers
    assert subtitle_file(unrelated, fast_default_model, auto).cues == blank.cues


def test_a_slide_change_between_keyframes_is_read_at_its_time(tmp_path):
    from bench.lecture_media import draw_slide
    from bench.shot_media import write_video

    first = draw_slide("Stress hormones", ["Adebayo, cortisol"], 0)
    second = draw_slide("Glaciology", ["Rasmussen, Jakobshavn"], 2)
    frames = [first] * 60 + [second] * 60  # 10 fps: the change at 6 s, keyframes 25 s apart
    path = tmp_path / "change.mp4"
    audio = np.zeros(16000 * 12, np.float32)
    write_video(path, frames, Fraction(10), (1280, 720), audio, "veryfast", "keyint=250:scenecut=0")
    screen = read_screen_text(path)
    times = {line.text: (line.start, line.end) for line in screen.lines}
    assert times["Stress hormones"][0] == 0.0
    assert abs(times["Stress hormones"][1] - 6.0) <= 0.3
    assert abs(times["Glaciology"][0] - 6.0) <= 0.3 and times["Glaciology"][1] >= 11.9


def test_a_moving_inset_leaves_the_slide_lines_on_screen(tmp_path):
    """A speaker's inset changes at every keyframe: only that part is read again, and the
    slide's lines stay on screen, each one line from start to end."""
    from bench.lecture_media import draw_slide
    from bench.shot_media import write_video

    slide = draw_slide("Stress hormones", ["Adebayo, cortisol"], 0)
    rng = np.random.default_rng(0)
    frames = []
    for k in range(100):  # 10 s at 10 fps, a keyframe every second
        frame = slide.copy()
        frame[-180:, -320:] = rng.integers(0, 255, (180, 320, 3), dtype=np.uint8) // 4 + k
        frames.append(frame)
    path = tmp_path / "inset.mp4"
    audio = np.zeros(16000 * 10, np.float32)
    write_video(path, frames, Fraction(10), (1280, 720), audio, "veryfast", "keyint=10")
    screen = read_screen_text(path)
    texts = [line.text for line in screen.lines]
    assert sorted(texts) == sorted(set(texts)) and "Stress hormones" in texts
    for line in screen.lines:
        assert line.start == 0.0 and line.end >= 9.9, line
    assert screen.pictures == 1


def test_footage_without_text_is_read_less_often_and_a_slide_after_it_is_still_read(tmp_path):
    """A picture that changes every second and never shows text is read every few seconds,
    not every second; the slide that follows it is read within that wait."""
    from bench.lecture_media import draw_slide
    from bench.shot_media import write_video
    from data.screen_text import TEXTLESS_PICTURE_GAP

    rng = np.random.default_rng(1)
    frames = []
    for second in range(30):  # a new flat colour every second, far from the last one
        colour = rng.integers(0, 100, 3) + (150 if second % 2 else 0)
        frames += [np.broadcast_to(colour.astype(np.uint8), (720, 1280, 3)).copy()] * 5
    frames += [draw_slide("Glaciology", ["Rasmussen, Jakobshavn"], 2)] * 50  # 30-40 s
    path = tmp_path / "footage.mp4"
    audio = np.zeros(16000 * 40, np.float32)
    write_video(path, frames, Fraction(5), (1280, 720), audio, "veryfast", "keyint=5")
    screen = read_screen_text(path)
    assert screen.pictures <= 12  # 31 new pictures: every second of footage, then the slide
    times = {line.text: (line.start, line.end) for line in screen.lines}
    assert 30.0 <= times["Glaciology"][0] <= 30.0 + TEXTLESS_PICTURE_GAP
    assert times["Glaciology"][1] >= 39.9
