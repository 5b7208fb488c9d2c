"""Media decoding with PyAV: probe a file, read its audio and sample its frames.

Everything the model sees from a media file comes through here:

- audio: float32 mono in [-1, 1] at ``sample_rate`` (``SAMPLE_RATE``, 16 kHz, for the
  models), sample 0 at
  time 0 of the file;
- frames: uint8 RGB, ``(N, S, S, 3)``, frame k being the picture shown at time
  ``k / fps`` seconds.

``MediaReader`` streams forward through a file of any length with bounded memory;
``load_audio`` reads a whole (short) file at once. Every failure to read a file is
a ``MediaError`` whose message is one line naming the file and the reason.

Decoding errors that FFmpeg reports (a damaged AAC packet, an unreadable H.264 NAL
unit) raise ``MediaError``. Damage a decoder conceals by itself (H.264 error
concealment), or that a demuxer skips (Matroska resyncs past a broken cluster), is
passed through as every player would; audio stays in sync because gaps in the
audio timestamps are filled with silence.

A header's duration is not trusted where FFmpeg only estimates it (raw ADTS AAC, MP3,
other elementary streams): ``probe`` measures those from their packets, and a reader
opened inside ``decoding(max_seconds)`` stops with ``MediaTooLong`` as soon as it decodes
past the limit, whatever the header said; its ``check`` runs before every read, so a
caller can stop a long read (e.g. when nobody waits for the result any more). A caller that
gives ``decoding`` an ``on_damage`` callback gets damaged media read as far as it can be
(packets the decoder rejects skipped, their time filled with silence) and described in one
line, instead of a MediaError.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import av
import av.logging
import av.stream
import numpy as np
from av.video.reformatter import VideoReformatter

# The audio rate the models read (Whisper's log-mel front end): one definition for all.
SAMPLE_RATE = 16000

MEDIA_EXTENSIONS = frozenset(
    "." + ext
    for ext in (
        "mp4 mkv webm mov avi m4v ts mpg mpeg wmv flv wav flac mp3 m4a aac ogg opus wma"
    ).split()
)
"""Lower-case file suffixes, with the dot (``Path.suffix.lower()``), worth trying as media."""

# Signatures of common containers: a file that starts like one but cannot be opened
# is "truncated or corrupt"; anything else is "not a media file".
_SIGNATURES = (b"RIFF", b"fLaC", b"OggS", b"ID3", b"\x1a\x45\xdf\xa3", b"\x30\x26\xb2\x75")
# Raw elementary streams have no index: FFmpeg guesses their duration from the bit rate.
_ESTIMATED_FORMATS = frozenset("aac mp3 ac3 eac3 dts h264 hevc m4v mpegvideo".split())
_GAP_TOLERANCE = 0.02  # seconds; larger holes between audio frames are filled with zeros
_END_TOLERANCE = 0.25  # seconds of codec padding trimmed at the end of an audio stream


class MediaError(Exception):
    """A media file cannot be read. ``str(err)`` is one line: ``"<path>: <reason>"``."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())  # one line, whatever FFmpeg said
        super().__init__(f"{self.path}: {self.reason}")


class MediaTooLong(MediaError):
    """Decoding went past the ``decoding`` limit in force: ``seconds`` were decoded."""

    def __init__(self, path: str, seconds: float, limit: float):
        self.seconds, self.limit = seconds, limit
        super().__init__(
            path, f"longer than the limit of {limit / 60:g} minutes (found while decoding)"
        )


@dataclass(frozen=True)
class _Rules:
    max_seconds: float | None = None
    check: Callable[[], None] | None = None
    on_damage: Callable[[str, str], None] | None = None


# Set by decoding() around a request, read by every MediaReader opened inside it, so that
# callers deep in a pipeline need not pass them through.
_RULES: ContextVar[_Rules | None] = ContextVar("decoding", default=None)


@contextmanager
def decoding(
    max_seconds: float | None = None,
    check: Callable[[], None] | None = None,
    on_damage: Callable[[str, str], None] | None = None,
) -> Iterator[None]:
    """Rules for the readers opened inside the block: past ``max_seconds`` of media they
    raise MediaTooLong; ``check()`` runs before every read (and may raise to stop it);
    with ``on_damage`` they read past packets the decoder rejects and past a stream that
    ends before its header says, and call ``on_damage(path, one-line description)`` once
    when closed (without it, such packets raise MediaError)."""
    token = _RULES.set(_Rules(max_seconds, check, on_damage))
    try:
        yield
    finally:
        _RULES.reset(token)


@dataclass(frozen=True)
class MediaInfo:
    """What ``probe`` learns from a file's header (and, if needed, its packets)."""

    path: str
    duration: float  # seconds, the longest stream
    has_audio: bool
    has_video: bool  # a real video stream, not an attached cover picture
    width: int | None  # video frame size in pixels, as stored
    height: int | None
    video_fps: float | None  # average frame rate
    audio_sample_rate: int | None  # Hz, as stored (before resampling)


def _ffmpeg_reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


def _open(path: str) -> av.container.InputContainer:
    """Open ``path`` for reading or raise ``MediaError`` saying why not."""
    if not os.path.exists(path):
        raise MediaError(path, "file not found")
    if not os.path.isfile(path):
        raise MediaError(path, "not a file")
    if os.path.getsize(path) == 0:
        raise MediaError(path, "empty file")
    # torchvision turns FFmpeg's console log on when imported; our errors are MediaError
    # lines, so keep FFmpeg's own messages ("moov atom not found") off stderr.
    av.logging.set_level(None)
    try:
        return av.open(path, metadata_errors="ignore")
    except PermissionError as err:
        raise MediaError(path, "cannot read the file (permission denied)") from err
    except (av.FFmpegError, OSError, ValueError) as err:
        with open(path, "rb") as f:
            head = f.read(12)
        known = head.startswith(_SIGNATURES) or head[4:8] == b"ftyp"
        what = "truncated or corrupt" if known else "not a media file"
        raise MediaError(path, f"{what} ({_ffmpeg_reason(err)})") from err


def _streams(container) -> tuple[av.stream.Stream | None, av.stream.Stream | None]:
    """The best audio stream and the best real video stream (cover pictures excluded)."""
    audio = container.streams.best("audio") if container.streams.audio else None
    videos = [
        s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
    ]
    video = max(
        videos,
        key=lambda s: (s.codec_context.width or 0) * (s.codec_context.height or 0),
        default=None,
    )
    return audio, video


def _origin(container) -> float:
    """Seconds of the container's first timestamp: time 0 of the file for our clocks."""
    return container.start_time / av.time_base if container.start_time is not None else 0.0


def _stream_end(stream, origin: float) -> float | None:
    """Seconds from the file's time 0 to the end of ``stream``, if the header says."""
    if stream is None or stream.duration is None or stream.time_base is None:
        return None
    start = stream.start_time * stream.time_base if stream.start_time is not None else origin
    return float(start + stream.duration * stream.time_base) - origin


def _scan_duration(path: str, container, longest: float = math.inf) -> float:
    """Duration from packet timestamps (no decoding), for files whose header does not say
    or only estimates; stops once past ``longest`` seconds."""
    origin, end = _origin(container), 0.0
    try:
        for packet in container.demux():
            if packet.pts is not None and packet.time_base is not None:
                stop = (packet.pts + (packet.duration or 0)) * packet.time_base
                end = max(end, float(stop) - origin)
                if end > longest:
                    break
    except av.FFmpegError as err:
        raise MediaError(path, f"truncated or corrupt ({_ffmpeg_reason(err)})") from err
    return end


def probe(path: str | os.PathLike, longest: float = math.inf) -> MediaInfo:
    """Read the header of ``path``; its packets are read (not decoded) when the header
    does not say the duration or only estimates it, up to ``longest`` seconds."""
    path = os.fspath(path)
    container = _open(path)
    try:
        audio, video = _streams(container)
        if audio is None and video is None:
            raise MediaError(path, "no audio or video stream")
        origin = _origin(container)
        if set(container.format.name.split(",")) & _ESTIMATED_FORMATS:
            duration = _scan_duration(path, container, longest)
        elif container.duration is not None and container.duration > 0:
            duration = container.duration / av.time_base
        else:
            ends = [e for e in (_stream_end(audio, origin), _stream_end(video, origin)) if e]
            duration = max(ends) if ends else _scan_duration(path, container, longest)
        rate = (video.average_rate or video.guessed_rate) if video is not None else None
        return MediaInfo(
            path=path,
            duration=float(duration),
            has_audio=audio is not None,
            has_video=video is not None,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            video_fps=float(rate) if rate else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio is not None else None,
        )
    finally:
        container.close()


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The whole file's audio as float32 mono in [-1, 1], shape (T,) at ``sample_rate``.

    A file without an audio stream gives silence (zeros) for its duration.
    Memory grows with the file: use ``MediaReader`` for long files.
    """
    with MediaReader(path, sample_rate=sample_rate) as reader:
        return reader.audio(0.0, math.inf)


def sample_span(start: float, end: float, sample_rate: int) -> tuple[int, int | float]:
    """The sample indices [s0, s1) of [start, end) seconds, as MediaReader.audio reads
    them (s1 is math.inf for an open end)."""
    s0 = max(0, round(start * sample_rate))
    s1 = round(end * sample_rate) if math.isfinite(end) else math.inf
    return s0, s1


class MediaReader:
    """Forward-only, lazily decoding reader of one file's audio and sampled frames.

    Calls to ``audio`` (and, separately, to ``frames``) must come with non-decreasing
    ``start``; spans may overlap. Only what a later call can still ask for is kept,
    so memory is bounded by the span length, not the file length. Audio and video
    are decoded from separate container handles: asking only for audio never
    decodes a video frame.
    """

    def __init__(
        self, path, sample_rate: int = SAMPLE_RATE, fps: float = 1.0, frame_size: int = 224
    ):
        self.path = os.fspath(path)
        self.sample_rate = int(sample_rate)
        self.fps = float(fps)
        self.frame_size = int(frame_size)
        rules = _RULES.get() or _Rules()
        self.limit, self._before_read = rules.max_seconds, rules.check  # limit None: any
        self._on_damage = rules.on_damage
        self._damage: dict[str, list[float]] = {}  # kind -> times of rejected packets
        self._cut: set[str] = set()  # kinds whose demuxing failed part-way
        self._short: str | None = None  # how the audio ended before its header's end
        self.info = probe(self.path, self.limit + 1 if self.limit is not None else math.inf)
        if self.limit is not None and self.info.duration > self.limit + _END_TOLERANCE:
            raise MediaTooLong(self.path, self.info.duration, self.limit)
        self._audio_in = self._video_in = None
        # Audio state: samples [base, base + len(buf)) of the 16 kHz timeline.
        self._abuf = np.zeros(0, np.float32)
        self._abase = 0
        self._aend = None  # sample index where the audio stream ends, once known
        self._alast = -math.inf  # latest start asked for
        # Video state: the decoded frames around the current sampling time.
        self._cur = self._next = None  # (time, av.VideoFrame) or None
        self._vcache: dict[int, np.ndarray] = {}  # k -> (S, S, 3) frames still wanted
        # One scaler for every frame: a frame's own to_ndarray(width=...) builds FFmpeg's
        # scaler anew each time, several times the cost of the scaling.
        self._scaler = VideoReformatter()
        self._vlast = -math.inf
        self._failed: dict[str, MediaError] = {}  # "audio"/"video" -> error, raised again
        self._closed = False

    # ----------------------------------------------------------------------------- audio

    def _start_audio(self):
        container = _open(self.path)
        stream, _ = _streams(container)
        for other in container.streams:
            if other is not stream:
                other.discard = av.stream.Discard.all  # demuxer skips their packets
        self._audio_in = container
        self._aframes = self._decoded(container, stream, "audio")
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=self.sample_rate)
        self._aorigin = _origin(container)
        self._anext_time = 0.0  # where the next decoded frame should start, in seconds
        self._aflushed = False
        end = _stream_end(stream, self._aorigin) or self.info.duration
        self._alimit = round(end * self.sample_rate) if end > 0 else None  # header's end

    def _decoded(self, container, stream, kind: str):
        """Frames of ``stream``. With an on_damage callback, packets the decoder rejects are
        skipped and noted (unless most are: then MediaError), and a demuxer error ends the
        stream; without one, the first error raises (as container.decode would)."""
        if self._on_damage is None:
            yield from container.decode(stream)
            return
        packets, good = container.demux(stream), 0
        rejected = self._damage.setdefault(kind, [])
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError:
                self._cut.add(kind)  # the rest of the file cannot be read
                return
            try:
                frames = packet.decode()
            except av.FFmpegError as err:
                if packet.pts is not None:
                    rejected.append(float(packet.pts * packet.time_base) - _origin(container))
                if len(rejected) > 10 and len(rejected) > good:
                    self._fail(kind, err)
                continue
            good += 1
            yield from frames

    @property
    def damage(self) -> str | None:
        """What was wrong with the media read so far, in one line; None if nothing."""
        parts = []
        for kind, times in self._damage.items():
            if len(times) == 1:
                parts.append(f"1 unreadable {kind} packet at {times[0]:.1f} s")
            elif times:
                parts.append(
                    f"{len(times)} unreadable {kind} packets between {min(times):.1f} s "
                    f"and {max(times):.1f} s"
                )
        parts += [f"the {kind} cannot be read past a damaged part" for kind in sorted(self._cut)]
        if self._short:
            parts.append(self._short)
        return "damaged: " + "; ".join(parts) if parts else None

    def _fail(self, kind: str, err: Exception):
        """Remember a decoding error of ``kind`` ("audio"/"video"), close that handle, raise."""
        error = MediaError(self.path, f"truncated or corrupt {kind} data ({_ffmpeg_reason(err)})")
        self._failed[kind] = error
        container = self._audio_in if kind == "audio" else self._video_in
        container.close()
        raise error from err

    def _past_limit(self, kind: str, seconds: float):
        """Raise (and keep raising) MediaTooLong once ``seconds`` decoded pass the limit."""
        if self.limit is not None and seconds > self.limit + _END_TOLERANCE:
            self._failed[kind] = MediaTooLong(self.path, seconds, self.limit)
            raise self._failed[kind]

    def _check(self, kind: str, start: float, last: float):
        if self._before_read is not None:
            self._before_read()
        if kind in self._failed:
            raise self._failed[kind]
        if self._closed:
            raise ValueError(f"{self.path}: the reader is closed")
        if start < last:
            raise ValueError(f"{kind} start {start} is before the previous start {last}")

    def _decode_audio(self) -> list[np.ndarray] | None:
        """Decode one audio frame: resampled float32 mono chunks; None after the end."""
        if self._aflushed:
            return None
        try:
            frame = next(self._aframes, None)
        except av.FFmpegError as err:
            self._fail("audio", err)
        if frame is None:  # end of stream: flush the resampler's tail
            self._aflushed = True
            return [np.clip(f.to_ndarray()[0], -1.0, 1.0) for f in self._resampler.resample(None)]
        chunks = []
        if frame.time is not None:
            start = frame.time - self._aorigin
            gap = start - self._anext_time
            if gap > _GAP_TOLERANCE:  # late start or lost packets: fill, keep in sync
                chunks.append(np.zeros(round(gap * self.sample_rate), np.float32))
            self._anext_time = start + frame.samples / frame.sample_rate
        chunks += [np.clip(f.to_ndarray()[0], -1.0, 1.0) for f in self._resampler.resample(frame)]
        return chunks

    def audio(self, start: float, end: float) -> np.ndarray:
        """Samples of [start, end) seconds: float32 mono in [-1, 1], shape (n,) with
        n = round(end * sr) - round(start * sr), fewer at the end of the stream.
        A file without audio gives zeros for the part of the span inside its duration."""
        self._check("audio", start, self._alast)
        self._alast = start
        sr = self.sample_rate
        s0, s1 = sample_span(start, end, sr)
        if not self.info.has_audio:
            stop = min(s1, round(self.info.duration * sr))
            return np.zeros(max(0, stop - s0), np.float32)
        if self._audio_in is None:
            self._start_audio()
        # Drop what no later call can ask for (a copy, so the old buffer is freed).
        cut = min(max(0, s0 - self._abase), len(self._abuf))
        if cut:
            self._abuf, self._abase = self._abuf[cut:].copy(), self._abase + cut
        # Near the header's end, look a little further to see whether the stream ends
        # there: codecs pad their last frame (AAC decodes up to 1024 extra samples).
        tol = round(_END_TOLERANCE * sr)
        limit = self._alimit
        target = s1 + tol if limit is not None and s1 >= limit - tol else s1
        have, new = self._abase + len(self._abuf), []
        while self._aend is None and have < target:
            chunks = self._decode_audio()
            if chunks is None:
                padded = limit is not None and limit < have <= limit + tol
                self._aend = limit if padded else have
                if limit is not None and have < limit - max(tol, limit // 50):
                    self._short = (
                        f"audio ends at {have / sr:.1f} s of the {limit / sr:.1f} s its header says"
                    )
                break
            self._past_limit("audio", (have + sum(map(len, chunks))) / sr)
            for chunk in chunks:
                if have + len(chunk) <= s0:  # wholly before the span: not kept
                    have += len(chunk)
                    continue
                if have < s0:
                    chunk, have = chunk[s0 - have :], s0
                new.append(chunk)
                have += len(chunk)
        if new:
            self._abuf = np.concatenate([self._abuf, *new])
        self._abase = have - len(self._abuf)
        stop = min(s1, self._aend if self._aend is not None else math.inf)
        if stop <= s0:
            return np.zeros(0, np.float32)
        return self._abuf[s0 - self._abase : stop - self._abase].copy()

    # ----------------------------------------------------------------------------- video

    def _start_video(self):
        container = _open(self.path)
        _, stream = _streams(container)
        for other in container.streams:
            if other is not stream:
                other.discard = av.stream.Discard.all
        stream.thread_type = "AUTO"
        self._video_in = container
        self._vframes = self._decoded(container, stream, "video")
        self._vorigin = _origin(container)
        rate = stream.average_rate or stream.guessed_rate
        self._vstep = 1.0 / float(rate) if rate else 1.0 / 25  # a frame's display time

    def _decode_frame(self) -> tuple[float, av.VideoFrame] | None:
        """The next decoded frame as (seconds from time 0, frame), or None at the end."""
        try:
            frame = next(self._vframes, None)
        except av.FFmpegError as err:
            self._fail("video", err)
        if frame is None:
            return None
        previous = self._next or self._cur  # no timestamp: one frame after the last
        if frame.time is not None:
            time = frame.time - self._vorigin
        else:
            time = previous[0] + self._vstep if previous else 0.0
        self._past_limit("video", time)
        return time, frame

    def _frame_at(self, t: float) -> av.VideoFrame | None:
        """The frame shown at time ``t`` (never decreasing between calls); None past the end."""
        if self._cur is None and self._next is None:
            self._next = self._decode_frame()
        while self._next is not None and self._next[0] <= t:
            self._cur, self._next = self._next, self._decode_frame()
        if self._cur is None:  # before the first frame: show the first frame
            return self._next[1] if self._next is not None else None
        if self._next is None and t >= self._cur[0] + self._vstep:
            return None  # past the last frame's display time
        return self._cur[1]

    def frames(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """Frames sampled at ``fps`` in [start, end): (N, S, S, 3) uint8 RGB and their
        (N,) float64 times k / fps in seconds. Frame k is the picture shown at k / fps.
        A file without video gives (0, S, S, 3) and (0,)."""
        self._check("video", start, self._vlast)
        self._vlast = start
        size = self.frame_size
        k0 = max(0, math.ceil(start * self.fps - 1e-9))
        k1 = math.ceil(end * self.fps - 1e-9) if math.isfinite(end) else math.inf
        self._vcache = {k: v for k, v in self._vcache.items() if k >= k0}
        if self.info.has_video and self._video_in is None:
            self._start_video()
        images, times, k = [], [], k0
        while self.info.has_video and k < k1:
            if k not in self._vcache:
                frame = self._frame_at(k / self.fps)
                if frame is None:
                    break
                scaled = self._scaler.reformat(frame, width=size, height=size, format="rgb24")
                self._vcache[k] = scaled.to_ndarray()
            images.append(self._vcache[k])
            times.append(k / self.fps)
            k += 1
        if not images:
            return np.zeros((0, size, size, 3), np.uint8), np.zeros(0, np.float64)
        return np.stack(images), np.asarray(times, np.float64)

    # ------------------------------------------------------------------------- lifetime

    def close(self):
        """Release both container handles (safe to call twice); damage found is reported
        to the on_damage callback."""
        if not self._closed and self._on_damage is not None and self.damage:
            self._on_damage(self.path, self.damage)
        for container in (self._audio_in, self._video_in):
            if container is not None:
                container.close()  # closing twice is harmless in PyAV
        self._audio_in = self._video_in = None
        self._cur = self._next = None
        self._abuf, self._vcache = np.zeros(0, np.float32), {}
        self._closed = True

    def __enter__(self) -> MediaReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
