"""Text on screen (slides, lower-thirds, code, names) read with rapidocr, each line kept with
the times it is visible.

Only keyframes are decoded, and the frames coded about as large as one: encoders put a
keyframe at least every GOP (250 frames in x264) and on most cuts, and a frame after a cut
that is not a keyframe cannot be predicted from the one before, so it is coded as large.
Decoding nothing else costs a small share of decoding the video. A keyframe is read (OCR) only when
its picture differs from the last one read, so a static talk is read once a slide. A line
is visible from the first read keyframe that shows it to the first read keyframe that no
longer does (or the end of the video).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from data.media import MediaError, _ffmpeg_reason, _open, _origin, _stream_end, _streams
from data.shot_changes import _open_video, _packets, _rate

# OCR is given frames scaled down to at most this many pixels on the longer side (the lines
# it recognises are cut from this picture); its detector looks at them at most DETECT_SIDE.
READ_SIDE = 1280
DETECT_SIDE = 736
# A keyframe is read again when this share of its thumbnail's samples changed by more than
# CHANGE_LEVEL (0-255) since the last read one: one new line on a slide is enough.
CHANGE_SHARE = 0.002
CHANGE_LEVEL = 24
CHANGE_THUMBNAIL = (192, 108)  # (width, height) of the grey thumbnails compared
# Only the changed part is read again, with this margin (share of the picture) around it;
# a change over at least WHOLE_PICTURE of the area is a new picture, read whole.
REGION_MARGIN = 0.03
WHOLE_PICTURE = 0.5
# A part that changed inside one read in this many seconds before and found without text
# (a speaker's inset, moving footage) is not read again until then.
TEXTLESS_SECONDS = 30.0
MIN_READ_GAP = 1.0  # seconds between reads at least (an all-keyframe video is not read at 25 fps)
# After a new picture read without text the next one waits twice as long, up to this many
# seconds; a picture with text resets the wait. Footage without text that cuts or changes
# all the time is read every few seconds, not every second (a quarter of caption.py's time
# on such video went to reads that found nothing).
TEXTLESS_PICTURE_GAP = 4.0
# A frame coded at least this share of the keyframe before it is a picture change too.
CHANGE_FRAME_SIZE = 0.3
MIN_CONFIDENCE = 0.8  # rapidocr's recognition score below which a line is dropped

Box = tuple[float, float, float, float]  # (left, top, right, bottom), shares of the picture


@dataclass(frozen=True)
class ScreenLine:
    """One line of text on screen: visible from `start` to `end` (seconds from the file's
    time 0); `box` is where it is on the picture."""

    text: str
    start: float
    end: float
    box: Box


@dataclass(frozen=True)
class ScreenText:
    """Every line of text read in a video, and how many new pictures (changes over most of
    the frame) were read."""

    lines: tuple[ScreenLine, ...]
    pictures: int
    duration: float


_engine = None
_engine_lock = threading.Lock()


def _ocr():
    """One rapidocr engine per process (its ONNX sessions are thread-safe to run), created
    on first use: importing it costs ~0.6 s that a run without pictures should not pay."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from rapidocr import RapidOCR

            # The angle classifier is off: slides and captions are upright.
            # The detector reads the picture at most DETECT_SIDE wide, not at least (its
            # default): as many terms found on the lecture slides, in 0.65x the time.
            _engine = RapidOCR(
                params={
                    "Global.log_level": "error",
                    "Global.use_cls": False,
                    "Det.limit_type": "max",
                    "Det.limit_side_len": DETECT_SIDE,
                }
            )
        return _engine


def read_lines(picture: np.ndarray) -> list[tuple[str, Box]]:
    """(text, box as shares of the picture) of each line rapidocr reads in an RGB picture
    (H, W, 3) uint8, top to bottom."""
    height, width = picture.shape[:2]
    result = _ocr()(picture)
    if result.txts is None:
        return []
    lines = []
    for text, score, box in zip(result.txts, result.scores, result.boxes, strict=True):
        text = " ".join(text.split())
        if score < MIN_CONFIDENCE or not text:
            continue
        xs, ys = box[:, 0], box[:, 1]
        lines.append(
            (text, (xs.min() / width, ys.min() / height, xs.max() / width, ys.max() / height))
        )
    return sorted(lines, key=lambda line: (line[1][1], line[1][0]))


def _pictures(path: str) -> Iterator[tuple[float, av.VideoFrame]]:
    """The video's keyframes, and the other frames coded about as large as a keyframe (a
    picture change the encoder did not make a keyframe), in time order."""
    packets = _packets(path)
    extra, key_size = [], None
    for t, size, is_key in packets:
        if is_key:
            key_size = size
        elif key_size and size >= CHANGE_FRAME_SIZE * key_size:
            extra.append(t)
    container, stream = _open_video(path)
    seeker, seek_stream = _open_video(path) if extra else (None, None)
    try:
        stream.codec_context.skip_frame = "NONKEY"
        origin = _origin(container)
        for frame in container.decode(stream):
            t = frame.time - origin if frame.time is not None else 0.0
            while extra and extra[0] < t:
                yield _frame_at(seeker, seek_stream, extra.pop(0))
            yield t, frame
        for at in extra:
            yield _frame_at(seeker, seek_stream, at)
    except av.FFmpegError as err:
        raise MediaError(path, f"truncated or corrupt video data ({_ffmpeg_reason(err)})") from err
    finally:
        container.close()
        if seeker is not None:
            seeker.close()


def _frame_at(container, stream, at: float) -> tuple[float, av.VideoFrame]:
    """The frame shown at `at` seconds: decoded from the keyframe before it, skipping the
    frames no other frame refers to (a frame coded as large as a keyframe is referred to)."""
    origin, tol = _origin(container), 0.5 / _rate(stream)
    container.seek(round((at + origin) / stream.time_base), stream=stream, backward=True)
    stream.codec_context.skip_frame = "NONREF"
    last = None
    for frame in container.decode(stream):
        t = frame.time - origin if frame.time is not None else at
        last = (t, frame)
        if t >= at - tol:
            break
    return last


def _video(path: str) -> tuple[bool, float | None]:
    """(whether the file has a video stream, where it ends if the header says)."""
    container = _open(path)
    try:
        _, stream = _streams(container)
        return stream is not None, _stream_end(stream, _origin(container))
    finally:
        container.close()


# Each scaling is done by one VideoReformatter kept for the whole video: a frame's own
# to_ndarray(width=, height=) builds FFmpeg's scaler anew every time, which cost several
# times the scaling itself (the same pixels either way).


def _rgb(frame: av.VideoFrame, scaler: VideoReformatter) -> np.ndarray:
    scale = min(1.0, READ_SIDE / max(frame.width, frame.height))
    width, height = round(frame.width * scale) // 2 * 2, round(frame.height * scale) // 2 * 2
    return scaler.reformat(frame, width=width, height=height, format="rgb24").to_ndarray()


def _grey(frame: av.VideoFrame, scaler: VideoReformatter) -> np.ndarray:
    """(H, W) int16 grey thumbnail the pictures are compared at."""
    width, height = CHANGE_THUMBNAIL
    grey = scaler.reformat(frame, width=width, height=height, format="gray")
    return grey.to_ndarray().astype(np.int16)


def _changed_box(now: np.ndarray, before: np.ndarray) -> Box | None:
    """The box around the samples that changed between two thumbnails, as shares of the
    picture; None when too few changed to matter."""
    changed = np.abs(now - before) > CHANGE_LEVEL
    if changed.mean() < CHANGE_SHARE:
        return None
    rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
    height, width = changed.shape
    return cols[0] / width, rows[0] / height, (cols[-1] + 1) / width, (rows[-1] + 1) / height


def _meets(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _region(changed: Box, lines: list[ScreenLine]) -> Box:
    """The part of the picture to read again: the change, a margin around it, and every
    line on screen it touches (a line is read whole)."""
    box = (changed[0] - REGION_MARGIN, changed[1] - REGION_MARGIN,
           changed[2] + REGION_MARGIN, changed[3] + REGION_MARGIN)  # fmt: skip
    grown = True
    while grown:
        grown = False
        for line in lines:
            if _meets(line.box, box) and not _inside(line.box, box):
                box = (min(box[0], line.box[0]), min(box[1], line.box[1]),
                       max(box[2], line.box[2]), max(box[3], line.box[3]))  # fmt: skip
                grown = True
    return max(0.0, box[0]), max(0.0, box[1]), min(1.0, box[2]), min(1.0, box[3])


def _area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _inside(a: Box, b: Box) -> bool:
    return b[0] <= a[0] and b[1] <= a[1] and a[2] <= b[2] and a[3] <= b[3]


def _read_region(
    frame: av.VideoFrame, region: Box, scaler: VideoReformatter
) -> list[tuple[str, Box]]:
    """The lines read in a region of the frame, boxes as shares of the whole picture."""
    picture = _rgb(frame, scaler)
    height, width = picture.shape[:2]
    left, top = int(region[0] * width), int(region[1] * height)
    right, bottom = int(np.ceil(region[2] * width)), int(np.ceil(region[3] * height))
    x0, y0 = left / width, top / height
    w, h = (right - left) / width, (bottom - top) / height
    return [
        (text, (x0 + b[0] * w, y0 + b[1] * h, x0 + b[2] * w, y0 + b[3] * h))
        for text, b in read_lines(picture[top:bottom, left:right])
    ]


def read_screen_text(path: str | os.PathLike) -> ScreenText | None:
    """The text on screen in `path`'s video; None when it has no video stream. Raises
    MediaError for an unreadable file.

    Where only part of the picture changed (a speaker's inset, a bullet appearing), only
    that part is read again, with the lines it touches; the others stay on screen."""
    path = os.fspath(path)
    has_video, end = _video(path)
    if not has_video:
        return None
    lines: list[ScreenLine] = []
    showing: dict[str, ScreenLine] = {}  # lines on screen at the last read, by their text
    textless: list[tuple[float, Box]] = []  # (when, region) of reads that found no text
    last_grey, last_read, pictures, t = None, -np.inf, 0, 0.0
    picture_gap = MIN_READ_GAP  # seconds a new picture waits after the last read
    thumbnails, pictures_read = VideoReformatter(), VideoReformatter()
    for t, frame in _pictures(path):
        grey = _grey(frame, thumbnails)
        region: Box = (0.0, 0.0, 1.0, 1.0)
        if last_grey is not None:
            changed = _changed_box(grey, last_grey)
            if changed is None or t - last_read < MIN_READ_GAP:
                continue
            region = _region(changed, list(showing.values()))
            if _area(region) >= WHOLE_PICTURE and t - last_read < picture_gap:
                continue
            textless = [(when, box) for when, box in textless if t - when < TEXTLESS_SECONDS]
            if any(_inside(region, box) for _, box in textless):
                continue
        last_grey, last_read = grey, t
        whole = _area(region) >= WHOLE_PICTURE
        if whole:
            region = (0.0, 0.0, 1.0, 1.0)
            pictures += 1
        seen: dict[str, Box] = {}
        for text, box in _read_region(frame, region, pictures_read):
            seen.setdefault(text, box)
        if whole:
            picture_gap = MIN_READ_GAP if seen else min(2 * picture_gap, TEXTLESS_PICTURE_GAP)
        elif not seen:
            textless.append((t, region))
        for text in [text for text, line in showing.items()
                     if text not in seen and _meets(line.box, region)]:  # fmt: skip
            line = showing.pop(text)
            lines.append(ScreenLine(line.text, line.start, t, line.box))
        for text, box in seen.items():
            showing.setdefault(text, ScreenLine(text, t, t, box))
    end = end or t
    lines.extend(ScreenLine(line.text, line.start, max(end, line.start), line.box)
                 for line in showing.values())  # fmt: skip
    lines.sort(key=lambda line: (line.start, line.box[1], line.box[0]))
    return ScreenText(tuple(lines), max(1, pictures), end)
