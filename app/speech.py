"""Where people speak: silero-vad speech probabilities -> speech regions -> decoding chunks.

silero-vad's own loop feeds its model one 32-ms frame at a time (~100x real time on one
core). Here a block of audio is cut into parallel streams that run as one batch through
the same ONNX model, each stream first warmed up on the second before it, so its state
is what a single pass would have had to within a second of context. Probabilities come
out per 512-sample frame; silero-vad's `get_speech_timestamps_from_probs` turns them into
speech regions, `padded_regions` widens them into the audio the decoder reads, and
`plan_chunks` packs those into windows of at most 25 s of speech.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from data.subtitles import Word

SAMPLE_RATE = 16000
FRAME = 512  # samples per speech probability (32 ms), fixed by the model
WARM_UP_FRAMES = 32  # ~1 s of preceding audio each stream sees before its own frames
STREAMS = 16


@dataclass(frozen=True)
class SpeechOptions:
    threshold: float = 0.5  # speech probability above which a frame is speech
    min_speech: float = 0.25  # seconds; shorter bursts are dropped (clicks, coughs)
    min_silence: float = 0.3  # seconds of silence that end a region
    # Seconds added on both sides of a region. Regions are joined without the silence
    # between them; with less than ~0.8 s of quiet at a join tiny.en tends to stop early
    # (2 of 4 sentences on a 15 s test file at 0.2 s, all 4 at 0.4 s, faster-whisper's value).
    pad: float = 0.4
    # Seconds of speech per decoder window. Not the full 30: with speech running to the
    # window's very end Whisper starts repeating itself (seen on three joined copies of
    # examples/jfk.mp4), and the repeated words all land on one instant.
    max_chunk: float = 25.0


@dataclass(frozen=True)
class Chunk:
    """Speech regions decoded as one window: their audio is joined end to end, the silence
    between them left out, so a window holds up to 30 s of speech rather than 30 s of
    clock time and nothing is decoded over the silences."""

    regions: tuple[tuple[float, float], ...]  # (start, end) seconds in the media

    @property
    def start(self) -> float:
        return self.regions[0][0]

    @property
    def end(self) -> float:
        return self.regions[-1][1]

    @property
    def speech_seconds(self) -> float:
        return sum(end - start for start, end in self.regions)

    def to_media(self, start: float, end: float) -> tuple[float, float]:
        """A span on the joined audio's clock -> the same span in the media, inside the
        one region that holds its middle (a word never straddles a removed silence)."""
        middle = (start + end) / 2
        offset = 0.0
        for region_start, region_end in self.regions:
            length = region_end - region_start
            if middle < offset + length or (region_start, region_end) == self.regions[-1]:
                lo = region_start + max(0.0, start - offset)
                hi = region_start + min(length, end - offset)
                lo = min(lo, region_end)
                return lo, max(lo, hi)
            offset += length
        raise AssertionError("unreachable: the last region takes every remaining span")


_per_thread = threading.local()


def _vad_model():
    """This thread's silero-vad model: it carries its recurrent state between calls, so
    threads reading different files must not share one."""
    model = getattr(_per_thread, "model", None)
    if model is None:
        threads = torch.get_num_threads()
        from silero_vad import load_silero_vad

        # Importing silero_vad calls torch.set_num_threads(1) for the whole process, which
        # left the captioning model on one core (measured: the encoder took 0.60 s a
        # window instead of 0.34 s on 2 cores).
        torch.set_num_threads(threads)
        model = load_silero_vad(onnx=True)  # ships inside the package: nothing is downloaded
        _per_thread.model = model
    return model


class SpeechDetector:
    """Speech probabilities for audio that arrives block by block (any block lengths)."""

    def __init__(self, streams: int = STREAMS):
        self.streams = streams
        self.history = np.zeros(WARM_UP_FRAMES * FRAME, dtype=np.float32)
        self.leftover = np.zeros(0, dtype=np.float32)  # samples short of a whole frame

    def feed(self, audio: np.ndarray) -> np.ndarray:
        """audio: (N,) float32 16 kHz -> one probability per complete 512-sample frame."""
        audio = np.concatenate([self.leftover, audio.astype(np.float32, copy=False)])
        n_frames = len(audio) // FRAME
        self.leftover = audio[n_frames * FRAME :]
        if n_frames == 0:
            return np.zeros(0, dtype=np.float32)
        return self._run(audio[: n_frames * FRAME])

    def finish(self) -> np.ndarray:
        """The last partial frame, zero-padded (as silero-vad does)."""
        if len(self.leftover) == 0:
            return np.zeros(0, dtype=np.float32)
        last = np.zeros(FRAME, dtype=np.float32)
        last[: len(self.leftover)] = self.leftover
        self.leftover = np.zeros(0, dtype=np.float32)
        return self._run(last)

    def _run(self, audio: np.ndarray) -> np.ndarray:
        n_frames = len(audio) // FRAME
        streams = max(1, min(self.streams, n_frames // (4 * WARM_UP_FRAMES)))
        per_stream = -(-n_frames // streams)
        padded = np.zeros((streams * per_stream + WARM_UP_FRAMES) * FRAME, dtype=np.float32)
        padded[: WARM_UP_FRAMES * FRAME] = self.history
        padded[WARM_UP_FRAMES * FRAME : WARM_UP_FRAMES * FRAME + len(audio)] = audio
        # Stream s: frames [s*L - W, (s+1)*L) of the block, W taken from before it.
        steps = per_stream + WARM_UP_FRAMES
        frames = padded.reshape(-1, FRAME)
        starts = np.arange(streams) * per_stream
        model = _vad_model()
        model.reset_states(streams)
        out = np.empty((streams, steps), dtype=np.float32)
        with torch.no_grad():
            for step in range(steps):
                batch = torch.from_numpy(frames[starts + step])  # (S, 512)
                out[:, step] = model(batch, SAMPLE_RATE).numpy()[:, 0]
        tail = WARM_UP_FRAMES * FRAME + len(audio)
        self.history = padded[tail - WARM_UP_FRAMES * FRAME : tail].copy()
        return out[:, WARM_UP_FRAMES:].reshape(-1)[:n_frames]


def speech_probabilities(blocks: Iterable[np.ndarray]) -> np.ndarray:
    """All frames' probabilities for audio given as consecutive blocks."""
    detector = SpeechDetector()
    parts = [detector.feed(block) for block in blocks]
    parts.append(detector.finish())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def speech_regions(
    probabilities: np.ndarray, duration: float, options: SpeechOptions
) -> list[tuple[float, float]]:
    """Per-frame probabilities -> sorted, non-overlapping (start, end) seconds of speech,
    unpadded: where the voice is."""
    from silero_vad.utils_vad import get_speech_timestamps_from_probs

    if len(probabilities) == 0:
        return []
    found = get_speech_timestamps_from_probs(
        probabilities.tolist(),
        sampling_rate=SAMPLE_RATE,
        threshold=options.threshold,
        min_speech_duration_ms=int(options.min_speech * 1000),
        min_silence_duration_ms=int(options.min_silence * 1000),
        speech_pad_ms=0,
        audio_length_samples=int(round(duration * SAMPLE_RATE)),
    )
    regions = [(r["start"] / SAMPLE_RATE, min(duration, r["end"] / SAMPLE_RATE)) for r in found]
    return [(start, end) for start, end in regions if end > start]


def padded_regions(
    speech: list[tuple[float, float]], pad: float, duration: float
) -> list[tuple[float, float]]:
    """Speech regions widened by `pad` on both sides (inside [0, duration]), overlaps merged:
    the audio each chunk reads."""
    regions: list[tuple[float, float]] = []
    for start, end in speech:
        start, end = max(0.0, start - pad), min(duration, end + pad)
        if regions and start <= regions[-1][1]:
            regions[-1] = (regions[-1][0], max(end, regions[-1][1]))
        else:
            regions.append((start, end))
    return regions


def snap_to_speech(words: list[Word], speech: list[tuple[float, float]]) -> list[Word]:
    """Word edges that fall outside every speech region move onto the nearest speech inside
    the word: the alignment tends to start a window's first word at the window's (padded)
    start, seconds before the voice."""
    if not speech:
        return list(words)
    starts = [start for start, _ in speech]
    snapped = []
    for word in words:
        start, end = word.start, word.end
        i = bisect_right(starts, start) - 1  # the region starting at or before `start`
        if i < 0 or start >= speech[i][1]:  # in a silence: go to the next region's start
            following = speech[i + 1][0] if i + 1 < len(speech) else None
            if following is not None and following < end:
                start = following
        j = bisect_right(starts, end) - 1
        if j >= 0 and speech[j][1] < end and speech[j][1] > start:  # ends in a silence
            end = speech[j][1]
        snapped.append(Word(start, end, word.text, word.probability))
    return snapped


def plan_chunks(regions: list[tuple[float, float]], options: SpeechOptions) -> list[Chunk]:
    """Pack consecutive speech regions into chunks of at most `max_chunk` seconds of speech;
    a region longer than that is cut into equal pieces."""
    pieces = []
    for start, end in regions:
        n = max(1, int(np.ceil((end - start) / options.max_chunk - 1e-9)))
        step = (end - start) / n
        pieces.extend((start + i * step, start + (i + 1) * step) for i in range(n))
    chunks: list[Chunk] = []
    current: list[tuple[float, float]] = []
    for piece in pieces:
        length = sum(e - s for s, e in current) + piece[1] - piece[0]
        if current and length > options.max_chunk + 1e-9:
            chunks.append(Chunk(tuple(current)))
            current = []
        current.append(piece)
    if current:
        chunks.append(Chunk(tuple(current)))
    return chunks
