"""data/subtitles.py: round trips, empty files, encodings, malformed input with line numbers."""

from __future__ import annotations

import json

import pytest

from data.subtitles import (
    Cue,
    SubtitleError,
    format_subtitles,
    read_subtitles,
    write_subtitles,
)

CUES = [
    Cue(0.5, 2.0, "Hello there,\nGeneral Kenobi!"),
    Cue(1.5, 3.25, "An overlapping cue"),  # overlaps the first: two speakers
    Cue(3600.0 + 61.042, 3600.0 + 63.5, "After an hour: 100% café"),
]


@pytest.mark.parametrize("fmt", ["srt", "vtt", "json"])
def test_round_trip_keeps_times_text_and_order(tmp_path, fmt):
    path = write_subtitles(CUES, tmp_path / f"out.{fmt}")
    back = read_subtitles(path)
    assert [cue.text for cue in back] == [cue.text for cue in CUES]
    for got, want in zip(back, CUES, strict=True):
        assert got.start == pytest.approx(want.start, abs=1e-3)
        assert got.end == pytest.approx(want.end, abs=1e-3)


@pytest.mark.parametrize("fmt", ["srt", "vtt", "json", "txt"])
def test_write_matches_format_subtitles_and_fmt_overrides_extension(tmp_path, fmt):
    path = write_subtitles(CUES, tmp_path / "out.data", fmt=fmt)
    assert path.read_text(encoding="utf-8") == format_subtitles(CUES, fmt)


def test_srt_and_vtt_text_look_like_their_formats():
    srt = format_subtitles(CUES, "srt")
    vtt = format_subtitles(CUES, "vtt")
    assert srt.startswith("1\n00:00:00,500 --> 00:00:02,000\nHello there,\nGeneral Kenobi!\n\n")
    assert "01:01:01,042 --> 01:01:03,500" in srt
    assert vtt.startswith("WEBVTT\n")
    assert "00:00:00.500 --> 00:00:02.000" in vtt


def test_txt_is_one_cue_per_line():
    assert format_subtitles(CUES, "txt").splitlines() == [
        "Hello there, General Kenobi!",
        "An overlapping cue",
        "After an hour: 100% café",
    ]


def test_json_holds_seconds_and_the_run_details():
    data = json.loads(format_subtitles(CUES[:1], "json", {"speech_without_words": []}))
    assert data["cues"] == [{"start": 0.5, "end": 2.0, "text": "Hello there,\nGeneral Kenobi!"}]
    assert data["speech_without_words"] == []


def test_a_plain_list_of_cues_still_reads(tmp_path):
    (tmp_path / "list.json").write_text('[{"start": 0.5, "end": 2, "text": "hi"}]')
    assert read_subtitles(tmp_path / "list.json") == [Cue(0.5, 2.0, "hi")]


@pytest.mark.parametrize("fmt", ["srt", "vtt", "json"])
def test_no_cues_writes_a_valid_file_that_reads_back_empty(tmp_path, fmt):
    path = write_subtitles([], tmp_path / f"empty.{fmt}")
    assert read_subtitles(path) == []


@pytest.mark.parametrize("name", ["zero.srt", "zero.vtt", "zero.json"])
def test_zero_byte_and_blank_files_have_no_cues(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    assert read_subtitles(tmp_path / name) == []
    (tmp_path / name).write_bytes(b"\xef\xbb\xbf\n \n")
    assert read_subtitles(tmp_path / name) == []


def test_write_is_atomic_and_leaves_no_temporaries(tmp_path):
    write_subtitles(CUES, tmp_path / "a.srt")
    write_subtitles(CUES[:1], tmp_path / "a.srt")
    assert [p.name for p in tmp_path.iterdir()] == ["a.srt"]
    assert len(read_subtitles(tmp_path / "a.srt")) == 1


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(SubtitleError, match="unknown subtitle format 'ass'"):
        write_subtitles(CUES, tmp_path / "a.ass")


SRT_TEXT = "1\n00:00:01,000 --> 00:00:02,500\nCafé naïve, déjà vu\n\n2\n00:00:03,000 --> 00:00:04,000\n“Quoted” – dash\n"


def test_utf8_with_bom_is_read(tmp_path):
    (tmp_path / "bom.srt").write_bytes("\ufeff".encode() + SRT_TEXT.encode("utf-8"))
    cues = read_subtitles(tmp_path / "bom.srt")
    assert cues[0] == Cue(1.0, 2.5, "Café naïve, déjà vu")


def test_cp1252_is_detected(tmp_path):
    (tmp_path / "legacy.srt").write_bytes(SRT_TEXT.encode("cp1252"))
    cues = read_subtitles(tmp_path / "legacy.srt")
    assert [cue.text for cue in cues] == ["Café naïve, déjà vu", "“Quoted” – dash"]


def test_vtt_identifiers_notes_settings_and_entities(tmp_path):
    text = (
        "WEBVTT - a title\nKind: captions\n\nNOTE written by hand\nspans two lines\n\n"
        "intro\n00:01.000 --> 00:02.500 align:start position:10%\n<v Roger>Hi</v> &amp; <00:01.200>bye\n\n"
        "01:00:00.000 --> 01:00:01.000\n<i>second</i>\n"
    )
    (tmp_path / "a.vtt").write_text(text, encoding="utf-8")
    assert read_subtitles(tmp_path / "a.vtt") == [
        Cue(1.0, 2.5, "Hi & bye"),
        Cue(3600.0, 3601.0, "second"),
    ]


def test_srt_tags_are_dropped_and_blank_line_inside_text_is_kept(tmp_path):
    text = "1\n00:00:01,000 --> 00:00:02,000\n<i>first</i> line\n\nstill the first cue\n\n2\n00:00:03,000 --> 00:00:04,000\nsecond\n"
    (tmp_path / "a.srt").write_text(text, encoding="utf-8")
    cues = read_subtitles(tmp_path / "a.srt")
    assert [cue.text for cue in cues] == ["first line\nstill the first cue", "second"]


def test_srt_without_cue_numbers_is_read(tmp_path):
    (tmp_path / "a.srt").write_text("00:00:01,000 --> 00:00:02,000\nno number\n", encoding="utf-8")
    assert read_subtitles(tmp_path / "a.srt") == [Cue(1.0, 2.0, "no number")]


@pytest.mark.parametrize(
    "name, text, line, problem",
    [
        (
            "number.srt",
            "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\nno timing\n",
            5,
            "cue number 2 has no timing line",
        ),
        (
            "timing.srt",
            "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:0x,000 --> 00:00:04,000\nbad\n",
            6,
            "timing line does not parse",
        ),
        (
            "arrow.srt",
            "1\n00:00:01,000 -> 00:00:02,000\nold arrow\n",
            1,
            "cue number 1 has no timing line",
        ),
        (
            "reversed.srt",
            "\n\n7\n00:00:05,000 --> 00:00:04,000\nbackwards\n",
            4,
            "cue ends before it starts",
        ),
        (
            "prose.srt",
            "Just some prose,\nnot subtitles.\n",
            1,
            "expected a cue number or timing line",
        ),
        ("header.vtt", "00:01.000 --> 00:02.000\nno header\n", 1, "must start with 'WEBVTT'"),
        (
            "timing.vtt",
            "WEBVTT\n\n00:01,000 --> 00:02.000\ncomma\n",
            3,
            "timing line does not parse",
        ),
        (
            "ident.vtt",
            "WEBVTT\n\nan identifier\n\n00:01.000 --> 00:02.000\nx\n",
            3,
            "has no timing line",
        ),
        ("broken.json", '[{"start": 1, "end": 2,\n "text": "a"}\n', 3, "invalid JSON"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, name, text, line, problem):
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(SubtitleError) as caught:
        read_subtitles(tmp_path / name)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / name}:{line}: ")
    assert problem in message
    assert "\n" not in message
    assert caught.value.line == line


def test_json_cue_without_fields_is_named(tmp_path):
    (tmp_path / "a.json").write_text(
        '[{"start": 1, "end": 2, "text": "a"}, {"start": 1}]', encoding="utf-8"
    )
    with pytest.raises(SubtitleError, match=r"a\.json: cue 1 is not"):
        read_subtitles(tmp_path / "a.json")


def test_missing_file_and_non_subtitle_text_are_errors(tmp_path):
    with pytest.raises(SubtitleError, match="cannot read"):
        read_subtitles(tmp_path / "absent.srt")
    (tmp_path / "notes.txt").write_text("plain words, no timing\n", encoding="utf-8")
    with pytest.raises(SubtitleError, match="not a subtitle file"):
        read_subtitles(tmp_path / "notes.txt")


def test_undecodable_bytes_give_a_clear_error(tmp_path):
    (tmp_path / "noise.srt").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(SubtitleError) as caught:
        read_subtitles(tmp_path / "noise.srt")
    assert "noise.srt" in str(caught.value) and "\n" not in str(caught.value)
