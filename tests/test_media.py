"""data/media.py on real files written by tests/media_factory.py."""

import math
import re
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from data import media
from data.media import (
    MEDIA_EXTENSIONS,
    MediaError,
    MediaInfo,
    MediaReader,
    MediaTooLong,
    decoding,
    load_audio,
    probe,
)
from tests import media_factory as mf

SR = 16000


def peak_hz(x: np.ndarray, sample_rate: int = SR) -> float:
    """The frequency of the strongest FFT bin of ``x``."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * sample_rate / len(x))


def top_color(image: np.ndarray) -> np.ndarray:
    """Mean RGB of the top half of an (S, S, 3) frame: the background of draw_frame."""
    return image[: image.shape[0] // 2].reshape(-1, 3).mean(axis=0)


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    """Band-limited noise: not periodic, so any shift in time shows."""
    x = np.random.default_rng(seed).standard_normal(round(seconds * SR))
    x = np.convolve(x, np.ones(8) / 8, mode="same")
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


# ------------------------------------------------------------------------------ probe


def test_probe_video_with_audio(tmp_path):
    path = mf.make_video(tmp_path / "v.mp4", 3.0, fps=25, size=(64, 48), audio=mf.tone(440, 3.0))
    info = probe(path)
    assert isinstance(info, MediaInfo)
    assert info.path == path
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert (info.has_audio, info.has_video) == (True, True)
    assert (info.width, info.height) == (64, 48)
    assert info.video_fps == pytest.approx(25.0)
    assert info.audio_sample_rate == SR


def test_probe_audio_only_and_video_only(tmp_path):
    audio = probe(mf.make_audio(tmp_path / "a.flac", mf.tone(440, 2.0, 22050), 22050))
    assert (audio.has_audio, audio.has_video) == (True, False)
    assert audio.duration == pytest.approx(2.0, abs=1e-3)
    assert audio.audio_sample_rate == 22050
    assert audio.width is audio.height is audio.video_fps is None

    video = probe(mf.make_video(tmp_path / "v.mkv", 2.0, fps=10, size=(32, 24)))
    assert (video.has_audio, video.has_video) == (False, True)
    assert video.duration == pytest.approx(2.0, abs=0.15)
    assert (video.width, video.height, video.audio_sample_rate) == (32, 24, None)


def test_media_extensions():
    for ext in (".mp4", ".mkv", ".webm", ".mov", ".wav", ".flac", ".mp3", ".m4a", ".opus"):
        assert ext in MEDIA_EXTENSIONS
    assert all(e.startswith(".") and e == e.lower() for e in MEDIA_EXTENSIONS)
    assert ".srt" not in MEDIA_EXTENSIONS and ".txt" not in MEDIA_EXTENSIONS


# ------------------------------------------------------------------------------ audio


def test_wav_audio_is_the_tone_sample_for_sample(tmp_path):
    x = mf.tone(440, 2.5)
    y = load_audio(mf.make_audio(tmp_path / "t.wav", x))
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == len(x)
    assert np.abs(y - x).max() < 1e-4  # 16-bit rounding only
    assert peak_hz(y) == pytest.approx(440, abs=1)


def test_audio_is_resampled_to_16k(tmp_path):
    x = mf.tone(1000, 2.0, sample_rate=44100)
    y = load_audio(mf.make_audio(tmp_path / "t.flac", x, 44100))
    assert abs(len(y) - 2 * SR) <= 2
    assert peak_hz(y) == pytest.approx(1000, abs=1)
    assert load_audio(tmp_path / "t.flac", sample_rate=8000).shape[0] == pytest.approx(16000, abs=2)


@pytest.mark.parametrize("name", ["v.mp4", "v.mkv", "v.webm", "a.m4a", "a.mp3", "a.ogg"])
def test_lossy_audio_matches_the_tone_in_time(tmp_path, name):
    x = mf.tone(440, 3.0)
    if name.startswith("v."):
        path = mf.make_video(tmp_path / name, 3.0, size=(32, 32), audio=x)
    else:
        path = mf.make_audio(tmp_path / name, x)
    y = load_audio(path)
    assert y.dtype == np.float32 and np.abs(y).max() <= 1.0
    assert abs(len(y) - len(x)) <= 1024  # codecs pad to whole frames
    assert peak_hz(y[: SR * 2]) == pytest.approx(440, abs=1)
    # Aligned in time: a shift of one sample would already give errors of about 0.09.
    middle = slice(SR // 2, SR * 5 // 2)
    err = np.sqrt(np.mean((y[middle] - x[middle]) ** 2))
    assert err < (0.02 if name.endswith((".mp4", ".mkv", ".m4a")) else 0.06)


def test_aac_in_mp4_ends_where_the_audio_ends(tmp_path):
    x = mf.tone(440, 2.3)
    path = mf.make_video(tmp_path / "v.mp4", 2.3, size=(32, 32), audio=x)
    assert len(load_audio(path)) == len(x)  # the AAC frame padding is trimmed


def test_gaps_in_audio_timestamps_become_silence(tmp_path):
    """Audio for [0, 1.008) s and [2, 3.008) s only: the hole stays, the second part stays at 2 s."""
    path = str(tmp_path / "gap.mkv")
    n = 14 * 1152  # whole FLAC frames, so that no frame spans the hole
    x = mf.tone(440, n / SR)
    with av.open(path, "w") as container:
        stream = container.add_stream("flac", rate=SR, layout="mono")
        for offset in (0, 2 * SR):
            for i in range(0, n, 1152):
                frame = av.AudioFrame.from_ndarray(x[None, i : i + 1152].copy(), "flt", "mono")
                frame.sample_rate, frame.pts, frame.time_base = SR, offset + i, Fraction(1, SR)
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    y = load_audio(path)
    assert len(y) == pytest.approx(2 * SR + n, abs=20)
    assert np.abs(y[:n] - x).max() < 1e-3
    assert np.abs(y[n + 20 : 2 * SR - 20]).max() == 0
    assert np.abs(y[2 * SR + 20 : 2 * SR + n - 20] - x[20:-20]).max() < 1e-3


# ----------------------------------------------------------------------------- reader


def test_reader_overlapping_windows_equal_load_audio(tmp_path):
    path = mf.make_video(tmp_path / "v.mp4", 12.0, fps=5, size=(32, 32), audio=noise(12.0))
    whole = load_audio(path)
    with MediaReader(path) as reader:
        spans = [(0.0, 5.0), (0.0, 2.0), (3.7, 8.7), (7.4, 12.4), (11.0, 16.0), (20.0, 25.0)]
        for start, end in spans:
            got = reader.audio(start, end)
            assert got.dtype == np.float32
            assert np.array_equal(got, whole[round(start * SR) : round(end * SR)]), (start, end)
        assert len(reader._abuf) <= 5 * SR  # nothing before the latest start is kept
        assert reader._video_in is None  # audio alone never opens (or decodes) the video
        with pytest.raises(ValueError):
            reader.audio(10.0, 11.0)  # backwards


def test_frames_at_1fps_have_the_encoded_colors(tmp_path):
    path = mf.make_video(tmp_path / "v.mp4", 6.0, fps=25, size=(64, 48))
    with MediaReader(path, fps=1.0, frame_size=224) as reader:
        images, times = reader.frames(0.0, 4.0)
        assert images.shape == (4, 224, 224, 3) and images.dtype == np.uint8
        assert times.dtype == np.float64 and times.tolist() == [0.0, 1.0, 2.0, 3.0]
        for image, t in zip(images, times, strict=True):
            assert np.abs(top_color(image) - mf.frame_color(t)).max() < 8
        # Overlapping, forward: k = 3, 4, 5 (frame 3 again, from the cache), then the end.
        later, later_times = reader.frames(2.5, 100.0)
        assert later_times.tolist() == [3.0, 4.0, 5.0]
        assert np.array_equal(later[0], images[3])
        assert np.abs(top_color(later[2]) - mf.frame_color(5)).max() < 8
        assert len(reader._vcache) == 3
        empty, empty_times = reader.frames(50.0, 60.0)
        assert empty.shape == (0, 224, 224, 3) and empty_times.shape == (0,)


def test_frames_at_2fps_show_the_moving_square(tmp_path):
    path = mf.make_video(tmp_path / "v.webm", 4.0, fps=10, size=(64, 48))
    with MediaReader(path, fps=2.0, frame_size=64) as reader:
        images, times = reader.frames(0.0, 4.0)
    assert times.tolist() == [k / 2 for k in range(8)]
    for image, t in zip(images, times, strict=True):
        assert np.abs(top_color(image) - mf.frame_color(t)).max() < 10
    # The white square in the bottom band moves right as time goes on.
    band = images[:, 52:60].astype(float).mean(axis=(1, 3))  # (N, 64) brightness by column
    columns = [float(np.argmax(row)) for row in band]
    assert columns == sorted(columns) and columns[-1] - columns[0] > 30


def test_audio_only_file_has_no_frames(tmp_path):
    x = mf.tone(440, 2.0)
    path = mf.make_video(tmp_path / "a.m4a", 2.0, audio=x, video=False)
    with MediaReader(path, frame_size=32) as reader:
        images, times = reader.frames(0.0, 2.0)
        assert images.shape == (0, 32, 32, 3) and times.shape == (0,)
        assert reader.audio(0.5, 1.5).shape == (SR,)


def test_video_only_file_gives_silence(tmp_path):
    path = mf.make_video(tmp_path / "v.mp4", 3.0, fps=10, size=(32, 32))
    duration = probe(path).duration
    assert np.array_equal(load_audio(path), np.zeros(round(duration * SR), np.float32))
    with MediaReader(path, frame_size=32) as reader:
        assert np.array_equal(reader.audio(1.0, 2.0), np.zeros(SR, np.float32))
        assert len(reader.audio(2.5, 10.0)) == round(duration * SR) - round(2.5 * SR)
        assert reader.frames(0.0, 10.0)[0].shape == (3, 32, 32, 3)


def test_long_file_is_read_with_bounded_memory(tmp_path):
    """Ten minutes (38 MB as float32 at 16 kHz) read in 30 s windows stays far below that."""
    seconds = 600
    x = noise(seconds)
    path = mf.make_video(tmp_path / "long.mp4", seconds, fps=2, size=(32, 32), audio=x)
    tracemalloc.start()
    try:
        with MediaReader(path, fps=1.0, frame_size=64) as reader:
            start, buffered = 0.0, 0
            for i in range(math.ceil(seconds / 27.3)):
                start = round(i * 27.3, 1)
                audio = reader.audio(start, start + 30.0)
                images, times = reader.frames(start, start + 30.0)
                s0, s1 = round(start * SR), round((start + 30.0) * SR)
                assert len(audio) == min(s1, len(x)) - s0
                k0, k1 = math.ceil(start), min(math.ceil(start + 30.0), seconds)
                assert times.tolist() == list(range(k0, k1)) and len(images) == k1 - k0
                buffered = max(buffered, len(reader._abuf))
                assert len(reader._vcache) <= 30
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert buffered <= 30 * SR + 2048  # one window of audio, plus one decoded frame
    assert peak < x.nbytes / 4  # the whole file's audio would be 38 MB


# ------------------------------------------------------------------------ bad inputs


def _no_streams(path):
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\nOnly subtitles here.\n")
    return str(path)


BAD = {
    "missing": (lambda p: str(p), "file not found"),
    "empty": (mf.make_empty, "empty file"),
    "text": (mf.make_text, "not a media file"),
    "truncated mp4": (mf.make_truncated, "truncated or corrupt"),
    "no streams": (_no_streams, "no audio or video stream"),
}


@pytest.mark.parametrize("kind", list(BAD))
@pytest.mark.parametrize("call", [probe, load_audio, MediaReader])
def test_bad_files_raise_one_line_media_error(tmp_path, kind, call):
    make, reason = BAD[kind]
    path = make(tmp_path / "bad file.mp4")
    with pytest.raises(MediaError) as caught:
        call(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and reason in message


def test_corrupt_middle_raises_media_error_and_keeps_raising(tmp_path):
    path = mf.make_corrupt(tmp_path / "c.mp4")
    probe(path)  # the header is intact
    with MediaReader(path) as reader:
        with pytest.raises(MediaError, match="truncated or corrupt audio") as first:
            reader.audio(0.0, 30.0)
        assert str(first.value).startswith(path) and "\n" not in str(first.value)
        with pytest.raises(MediaError) as again:  # not a silent restart from the beginning
            reader.audio(1.0, 30.0)
        assert again.value is first.value
    with pytest.raises(MediaError, match="truncated or corrupt"):
        load_audio(path)


def test_truncated_mkv_decodes_what_is_there(tmp_path):
    """A Matroska file cut in half keeps its header: what remains is decoded, no garbage."""
    full = load_audio(mf.make_video(tmp_path / "full.mkv", 2.0, audio=mf.tone(440, 2.0)))
    cut = load_audio(mf.make_truncated(tmp_path / "half.mkv", 2.0))
    assert 0.2 * SR < len(cut) < len(full)
    assert np.array_equal(cut, full[: len(cut)])


# --------------------------------------------------------------------------- example

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "jfk.mp4"


def test_bundled_example_video():
    info = probe(EXAMPLE)
    assert (info.has_audio, info.has_video, info.width, info.height) == (True, True, 320, 240)
    assert info.duration == pytest.approx(11.0, abs=0.1)
    assert EXAMPLE.stat().st_size < 600_000
    audio = load_audio(EXAMPLE)
    assert abs(len(audio) - 11 * SR) <= 1024
    assert np.sqrt(np.mean(audio**2)) > 0.05  # speech, not silence
    flac = next(
        (
            p
            for p in (EXAMPLE.parents[1], EXAMPLE.parents[2])
            if (p / "shared/media/jfk.flac").exists()
        ),
        None,
    )
    if flac is not None:  # the same speech as the source recording, in time
        source = load_audio(flac / "shared/media/jfk.flac")
        n = min(len(source), len(audio))
        assert np.corrcoef(source[:n], audio[:n])[0, 1] > 0.99


# ------------------------------------------------------------- durations that headers understate


def test_probe_measures_a_raw_aac_file_its_header_understates(tmp_path):
    path = mf.make_understated_aac(tmp_path / "long.aac", 120.0)
    with av.open(path) as container:  # FFmpeg's estimate from the bit rate
        assert container.duration / av.time_base < 30
    assert probe(path).duration == pytest.approx(120.0, abs=0.2)
    assert probe(path, longest=50.0).duration == pytest.approx(50.0, abs=1.0)  # stops early


def test_decoding_stop_a_reader_whatever_the_header_says(tmp_path, monkeypatch):
    path = mf.make_understated_aac(tmp_path / "long.aac", 120.0)
    monkeypatch.setattr(media, "_ESTIMATED_FORMATS", frozenset())  # trust the estimate
    assert probe(path).duration < 30
    with decoding(60.0), MediaReader(path) as reader:
        assert len(reader.audio(0.0, 50.0)) == 50 * SR  # under the limit: read as usual
        with pytest.raises(MediaTooLong, match=r"long\.aac: longer than the limit of 1 minutes"):
            reader.audio(50.0, math.inf)
        with pytest.raises(MediaTooLong):  # and it stays refused
            reader.audio(60.0, 70.0)
    assert len(load_audio(path)) == pytest.approx(120 * SR, abs=SR // 4)  # no limit outside


def test_decoding_check_runs_before_every_read(tmp_path):
    path = mf.make_audio(tmp_path / "a.wav", mf.tone(440, 3.0))
    reads = []

    def check():
        reads.append(1)
        if len(reads) > 2:
            raise KeyboardInterrupt  # anything the caller chooses

    with decoding(check=check), MediaReader(path) as reader:
        reader.audio(0.0, 1.0)
        reader.audio(1.0, 2.0)
        with pytest.raises(KeyboardInterrupt):
            reader.audio(2.0, 3.0)


# ------------------------------------------------------------------- damaged media, reported


def read_noting_damage(path) -> tuple[np.ndarray, list[tuple[str, str]]]:
    notes = []
    with decoding(on_damage=lambda where, note: notes.append((where, note))):
        return load_audio(path), notes


def test_a_corrupt_middle_is_read_past_and_described(tmp_path):
    path = mf.make_corrupt(tmp_path / "c.mp4", seconds=6.0)
    audio, notes = read_noting_damage(path)
    assert len(audio) == pytest.approx(6 * SR, abs=SR // 4)  # rejected packets: silence
    ((where, note),) = notes
    assert where == path and "\n" not in note
    assert re.fullmatch(
        r"damaged: \d+ unreadable audio packets between [\d.]+ s and [\d.]+ s", note
    )
    tone_part = audio[: SR // 2]
    assert peak_hz(tone_part) == pytest.approx(440, abs=5)  # what precedes the damage is intact


def test_a_cut_file_is_read_to_its_end_and_described(tmp_path):
    path = mf.make_truncated(tmp_path / "cut.mp4", 6.0, keep=2 / 3, faststart=True)
    audio, notes = read_noting_damage(path)
    assert 3 * SR < len(audio) < 5 * SR
    ((_, note),) = notes
    assert (
        note.startswith("damaged: ")
        and f"audio ends at {len(audio) / SR:.1f} s of the 6.0 s" in note
    )
    with MediaReader(path) as reader:  # no on_damage: the cut packet raises, as before
        with pytest.raises(MediaError, match="truncated or corrupt audio"):
            reader.audio(0.0, math.inf)


def test_good_files_report_no_damage(tmp_path):
    path = mf.make_video(tmp_path / "ok.mp4", 2.0, audio=mf.tone(440, 2.0))
    assert read_noting_damage(path)[1] == []
