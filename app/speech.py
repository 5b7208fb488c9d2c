"""Where people speak: silero-vad speech probabilities -> speech regions -> decoding chunks.

silero-vad's streaming model is fed one 32-ms frame at a time from Python (~100x real time
on one core). Its package also ships the same network exported to run a whole sequence of
frames in one ONNX call (the "sequence" model, bit-exact with the streaming one): here a
block of audio is cut into streams, each warmed up on the second before it (see
SpeechDetector), and each stream is one call. Finding the probabilities needs only numpy
and onnxruntime: no PyTorch tensors per frame, and silero_vad's package (whose import sets
PyTorch to one thread) is imported only for its region rules. Probabilities come out per
512-sample frame; silero-vad's
`get_speech_timestamps_from_probs` turns them into speech regions, `padded_regions` widens
them into the audio the decoder reads, and `plan_chunks` packs those into windows of at
most 25 s of speech.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.subtitles import Word

SAMPLE_RATE = 16000
FRAME = 512  # samples per speech probability (32 ms), fixed by the model


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


SEQUENCE_MODEL = "silero_vad_16k_sequence.onnx"
WARM_UP_FRAMES = 32  # ~1 s of preceding audio each stream sees before its own frames
STREAMS = 16
CONTEXT = 64  # samples of the previous frame each frame is given (the streaming model's)
FRAMES_PER_CALL = 512  # ~16 s of audio per ONNX call
_session_lock = threading.Lock()
_session = None
_import_lock = threading.Lock()


def _silero_data_file(name: str) -> Path:
    """A model file shipped in the silero_vad wheel, found without importing the package
    (its __init__ imports PyTorch and sets it to one thread)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("silero-vad is not installed (pip install -r requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def _vad_session():
    """The sequence model's ONNX session, shared: the recurrent state is passed in and out
    of every call, so threads reading different files can use one session at once."""
    global _session
    with _session_lock:
        if _session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.inter_op_num_threads = 1  # the model's PyTorch threads use the cores
            options.intra_op_num_threads = 1
            _session = onnxruntime.InferenceSession(
                os.fspath(_silero_data_file(SEQUENCE_MODEL)),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        return _session


class SpeechDetector:
    """Speech probabilities for audio that arrives block by block (any block lengths).

    A block is cut into up to 16 streams, each run from a fresh state after a warm-up on
    the second of audio before it: a frame's probability then depends on about a second
    of context, not on everything since the file began, so the same speech gets the same
    regions wherever it starts (one pass carrying the state over minutes of audio ended a
    region 0.5 s earlier after 4 s of room tone than without it, cutting the last word).
    """

    def __init__(self, streams: int = STREAMS):
        self.session = _vad_session()
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
        frames = padded.reshape(-1, FRAME)
        # Stream s: frames [s*L - W, (s+1)*L) of the block, W taken from before it.
        out = [
            self._stream(frames[s * per_stream : (s + 1) * per_stream + WARM_UP_FRAMES])
            for s in range(streams)
        ]
        tail = WARM_UP_FRAMES * FRAME + len(audio)
        self.history = padded[tail - WARM_UP_FRAMES * FRAME : tail].copy()
        return np.concatenate([p[WARM_UP_FRAMES:] for p in out])[:n_frames]

    def _stream(self, frames: np.ndarray) -> np.ndarray:
        """frames: (F, 512), run from a fresh state -> (F,) probabilities. Each frame is
        given the last 64 samples of the one before (zeros for the first), as silero-vad's
        streaming model keeps them."""
        contexts = np.zeros((len(frames), CONTEXT), dtype=np.float32)
        contexts[1:] = frames[:-1, -CONTEXT:]
        inputs = np.concatenate([contexts, frames], axis=1)  # (F, 576)
        hidden = np.zeros((1, 1, 128), dtype=np.float32)
        cell = np.zeros((1, 1, 128), dtype=np.float32)
        out = []
        for start in range(0, len(inputs), FRAMES_PER_CALL):
            probabilities, hidden, cell = self.session.run(
                ["speech_probs", "hn", "cn"],
                {"input": inputs[start : start + FRAMES_PER_CALL], "h": hidden, "c": cell},
            )
            out.append(probabilities.reshape(-1))
        return np.concatenate(out)


def speech_probabilities(blocks: Iterable[np.ndarray]) -> np.ndarray:
    """All frames' probabilities for audio given as consecutive blocks."""
    detector = SpeechDetector()
    parts = [detector.feed(block) for block in blocks]
    parts.append(detector.finish())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _silero_utils():
    """silero_vad.utils_vad, imported without its side effect: importing the package calls
    torch.set_num_threads(1) for the whole process, which left the captioning model on one
    core (measured: the encoder took 0.60 s a window instead of 0.34 s on 2 cores)."""
    import torch

    with _import_lock:  # two readers importing at once would save the other's 1 thread
        threads = torch.get_num_threads()
        from silero_vad import utils_vad

        torch.set_num_threads(threads)
    return utils_vad


def speech_regions(
    probabilities: np.ndarray, duration: float, options: SpeechOptions
) -> list[tuple[float, float]]:
    """Per-frame probabilities -> sorted, non-overlapping (start, end) seconds of speech,
    unpadded: where the voice is."""
    get_speech_timestamps_from_probs = _silero_utils().get_speech_timestamps_from_probs
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
