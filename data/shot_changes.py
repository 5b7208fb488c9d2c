"""Shot changes (hard cuts) from the picture, at the file's own frame rate, so a cut's
time is the exact time of the first frame of the new shot.

A frame starts a new shot when it differs from the frame before far more than the frames
around it differ from theirs (an adaptive content detector, as PySceneDetect's
AdaptiveDetector): a hard cut is one large jump among small ones. A fade or a dissolve
changes the picture a little on each of many frames, so no single step stands out and it
is not a cut; camera motion raises the neighbours' differences along with the frame's, so
it is not one either. Flashes shorter than `min_shot` give one cut, not two.

Cost: decoding the picture is nearly all of it, so as little is decoded as the cuts allow.
First the packets are read without decoding (their sizes) and only the keyframes are
decoded. A stretch from one keyframe to the next is skipped when its two ends look alike
and none of its frames is coded anywhere near a keyframe's size (a frame after a cut
cannot be predicted from the one before, so it costs about as much as a keyframe): a
static talk or a long shot is not decoded at all. The other stretches are decoded, only
the frames other frames refer to (I, P and reference B frames; every frame in a stream
without B-frames), and their 64x36 samples, read straight from the planes, are compared;
the decoder skips its loop filter, which only smooths block edges a thumbnail cannot see.
Where a jump falls between two decoded frames with skipped ones in between, that stretch
alone is decoded again, every frame, to find the cut's frame (most encoders put a
keyframe on a cut, so this is rare).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from data.media import MediaError, _ffmpeg_reason, _open, _origin, _streams

SHOT_CHANGE_MODES = ("auto", "off")


@dataclass(frozen=True)
class ShotChangeOptions:
    thumbnail: tuple[int, int] = (64, 36)  # (width, height) the frames are compared at
    min_jump: float = 12.0  # mean absolute difference (0-255) of YUV samples a cut reaches
    ratio: float = 3.0  # ... and this many times the mean difference of its neighbours
    neighbours: int = 2  # frames on each side whose differences are the local level
    min_shot: float = 0.25  # seconds: a shot shorter than this is a flash, not a shot
    # A stretch between two keyframes is not decoded when they differ by less than this
    # (half the smallest cut) and none of its frames is coded larger than this share of
    # the smaller keyframe (a frame after a cut is coded about as large as a keyframe).
    still_jump: float = 6.0
    cut_frame_size: float = 0.3


@dataclass(frozen=True)
class ShotChanges:
    """The hard cuts of a video: `times[i]` is when the first frame of shot i + 1 is shown,
    in seconds from the file's time 0; `fps` is the video's own frame rate."""

    fps: float
    times: tuple[float, ...]

    def frames(self) -> list[int]:
        """The cuts as frame numbers at `fps`."""
        return [round(t * self.fps) for t in self.times]


_PLANAR_YUV = frozenset("yuv420p yuvj420p yuv422p yuvj422p yuv444p yuvj444p".split())


def _thumbnail(
    frame: av.VideoFrame, width: int, height: int, scaler: VideoReformatter
) -> np.ndarray:
    """About (height, width) samples of each of the frame's planes, as int16 (3 * H * W,):
    read straight from planar YUV, which costs next to nothing, where FFmpeg's scaler to a
    small RGB picture cost as much again as decoding a 720p frame (measured); other pixel
    formats (10-bit, NV12, RGB) go through `scaler`, one kept for the whole pass (a frame's
    own to_ndarray(width=...) builds a new one each time)."""
    if frame.format.name not in _PLANAR_YUV:
        small = scaler.reformat(frame, width=width, height=height, format="rgb24")
        return small.to_ndarray().astype(np.int16).ravel()
    parts = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        step_y, step_x = max(1, plane.height // height), max(1, plane.width // width)
        parts.append(rows[: step_y * height : step_y, : step_x * width : step_x].ravel())
    return np.concatenate(parts).astype(np.int16)


def _open_video(path: str):
    """(container, its best video stream or None), other streams discarded, the decoder
    told to skip deblocking: it only smooths edges between coded blocks, which a
    thumbnail cannot see."""
    container = _open(path)
    _, stream = _streams(container)
    for other in container.streams:
        if other is not stream:
            other.discard = av.stream.Discard.all
    if stream is not None:
        stream.codec_context.options = {"skip_loop_filter": "all"}
    return container, stream


def _rate(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else 25.0


def _packets(path: str) -> list[tuple[float, int, bool]]:
    """(time, size in bytes, is a keyframe) of every packet of the video stream, in
    display order, read without decoding anything."""
    container, stream = _open_video(path)
    try:
        origin, base = _origin(container), stream.time_base
        packets = [
            (float(packet.pts * base) - origin, packet.size, packet.is_keyframe)
            for packet in container.demux(stream)
            if packet.pts is not None and packet.size
        ]
    finally:
        container.close()
    return sorted(packets)


def _decode(path: str, options: ShotChangeOptions, skip: str, start=0.0, stop=math.inf):
    """(times, thumbnails) of the frames `skip` lets through ("NONKEY": keyframes only;
    "NONREF": the frames others refer to) from `start` to `stop`, both included."""
    container, stream = _open_video(path)
    try:
        stream.codec_context.skip_frame = skip
        origin, tol = _origin(container), 0.25 / _rate(stream)
        if start > 0:  # to the keyframe at `start` (a hair after it, never the one before)
            at = round((start + tol + origin) / stream.time_base)
            container.seek(at, stream=stream, backward=True)
        times, thumbnails, scaler = [], [], VideoReformatter()
        for frame in container.decode(stream):  # in display order
            t = (
                frame.time - origin
                if frame.time is not None
                else start + len(times) / _rate(stream)
            )
            if t < start - tol:
                continue
            times.append(t)
            thumbnails.append(_thumbnail(frame, *options.thumbnail, scaler))
            if t >= stop - tol:
                break
    finally:
        container.close()
    return times, thumbnails


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def spans_to_decode(path: str, options: ShotChangeOptions) -> list[tuple[float, float]]:
    """The stretches of the video that may hold a cut, from keyframe to keyframe (the
    module docstring): [(start, stop)], both keyframe times, the last one open-ended."""
    packets = _packets(path)
    keys = [(t, size) for t, size, key in packets if key]
    if len(keys) < 2 or len(keys) == len(packets):  # one long stretch, or all keyframes
        return [(0.0, math.inf)]
    times, thumbnails = _decode(path, options, "NONKEY")
    if len(times) != len(keys):  # keyframe flags and decoded keyframes disagree: all of it
        return [(0.0, math.inf)]
    spans: list[list[float]] = []
    others = iter((t, size) for t, size, key in packets if not key)
    pending = next(others, None)
    for i in range(len(keys)):
        largest = 0
        end = keys[i + 1][0] if i + 1 < len(keys) else math.inf
        while pending is not None and pending[0] < end:  # the frames of this stretch
            if pending[0] > keys[i][0]:
                largest = max(largest, pending[1])
            pending = next(others, None)
        still = (
            i + 1 < len(keys)
            and _difference(thumbnails[i], thumbnails[i + 1]) < options.still_jump
            and largest <= options.cut_frame_size * min(keys[i][1], keys[i + 1][1])
        )
        if still:
            continue
        if spans and spans[-1][1] == keys[i][0]:
            spans[-1][1] = end
        else:
            spans.append([keys[i][0] if i else 0.0, end])
    return [(start, stop) for start, stop in spans]


def frame_differences(path: str | os.PathLike, options: ShotChangeOptions):
    """(times (N,), differences (N,), fps) of the decoded frames (those `spans_to_decode`
    keeps, and of them the reference frames: every frame in streams without B-frames):
    differences[k] is the mean absolute difference, 0-255, between frame k's thumbnail and
    frame k-1's, 0 for the first frame of each stretch. None when the file has no video
    stream. Frames nothing refers to (most B-frames) are not decoded: a third less
    decoding (measured); `refine_cut` finds a cut among them."""
    path = os.fspath(path)
    container, stream = _open_video(path)
    fps = _rate(stream) if stream is not None else 0.0
    container.close()
    if stream is None:
        return None
    times, differences = [], []
    try:
        for start, stop in spans_to_decode(path, options):
            span_times, thumbnails = _decode(path, options, "NONREF", start, stop)
            times += span_times
            differences += [0.0] + [
                _difference(a, b) for a, b in zip(thumbnails[1:], thumbnails[:-1], strict=True)
            ]
    except av.FFmpegError as err:
        raise MediaError(path, f"truncated or corrupt video data ({_ffmpeg_reason(err)})") from err
    return np.asarray(times), np.asarray(differences), fps


def refine_cut(container, stream, after: float, until: float, options: ShotChangeOptions) -> float:
    """The time of the frame in (after, until] that differs most from the frame before it,
    decoding every frame there (from the keyframe before `after`): where the cut lies
    among frames the first pass skipped."""
    origin, base = _origin(container), stream.time_base
    tol = 0.25 / _rate(stream)
    container.seek(round((after + origin) / base), stream=stream, backward=True)
    width, height = options.thumbnail
    best, previous, scaler = (-1.0, until), None, VideoReformatter()
    for packet in container.demux(stream):
        # Reference frames are decoded anyway; the others only from `after` on.
        late = packet.pts is not None and float(packet.pts * base) - origin > after + tol
        stream.codec_context.skip_frame = "DEFAULT" if late else "NONREF"
        for frame in stream.decode(packet):
            t = frame.time - origin
            if t < after - tol:
                continue
            small = _thumbnail(frame, width, height, scaler)
            difference = -1.0 if previous is None else _difference(small, previous)
            if difference > best[0]:
                best = (difference, t)
            previous = small
            if t >= until - tol:
                return best[1]
    return best[1]


def cuts_from_differences(
    times: np.ndarray, differences: np.ndarray, fps: float, options: ShotChangeOptions
) -> list[float]:
    """The times of the frames that start a new shot (see the module docstring)."""
    n, w = len(differences), options.neighbours
    cuts: list[float] = []
    for k in range(1, n):
        jump = differences[k]
        if jump < options.min_jump:
            continue
        around = np.concatenate([differences[max(1, k - w) : k], differences[k + 1 : k + 1 + w]])
        level = float(around.mean()) if len(around) else 0.0
        if jump < options.ratio * level or jump < differences[max(1, k - w) : k + 1 + w].max():
            continue
        if cuts and times[k] - cuts[-1] < options.min_shot - 0.5 / fps:
            continue
        cuts.append(float(times[k]))
    return cuts


def detect_shot_changes(
    path: str | os.PathLike, options: ShotChangeOptions | None = None
) -> ShotChanges | None:
    """The hard cuts of `path`'s video; None when it has no video stream. Raises
    MediaError for an unreadable file."""
    options = options or ShotChangeOptions()
    found = frame_differences(path, options)
    if found is None:
        return None
    times, differences, fps = found
    cuts = []
    container, stream = _open_video(os.fspath(path))
    try:
        for cut in cuts_from_differences(times, differences, fps, options):
            k = int(np.searchsorted(times, cut))
            skipped = k > 0 and times[k] - times[k - 1] > 1.5 / fps
            cuts.append(
                refine_cut(container, stream, times[k - 1], cut, options) if skipped else cut
            )
    except av.FFmpegError as err:
        raise MediaError(
            os.fspath(path), f"truncated or corrupt video data ({_ffmpeg_reason(err)})"
        ) from err
    finally:
        container.close()
    return ShotChanges(fps, tuple(float(t) for t in cuts))
