"""Stage 2, where people speak: audio -> silero-vad speech probabilities -> speech regions.

Probabilities come from the sequence variant of silero-vad's ONNX model (the same network
as its streaming model, run over a whole stream of frames in one call), so this stage needs
only numpy and onnxruntime; silero-vad's own `get_speech_timestamps_from_probs` turns them
into regions. `padded_regions` widens the regions into the audio the decoder reads.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.media import SAMPLE_RATE

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
