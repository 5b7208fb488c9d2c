"""Many media files -> timed subtitles, decoding speech chunks from one or several files in
one batch.

Per file (in background worker threads when asked): silero-vad finds the speech, the speech
regions are packed into chunks of at most 25 s of speech (the silences between them left
out), and each chunk's audio (and frames, when the visual gates are open) is read; the
mel is computed in the main thread, whose PyTorch threads would otherwise spin against a
second set started by the worker. The main thread gathers chunks from any files
into batches of `batch_size`: one encoder pass, one batched beam search, one alignment pass
that times every word from the cross-attention. A file is finished when its last chunk is
decoded: its words are laid out into cues and handed back, so memory stays flat however
many or however long the files are.
"""

from __future__ import annotations

import ctypes
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from app.language_layout import layout_language_words
from app.options import SubtitleOptions
from app.speech import (
    Chunk,
    SpeechOptions,
    padded_regions,
    plan_chunks,
    snap_to_speech,
    speech_probabilities,
    speech_regions,
)
from data.language_rules import rules_for
from data.media import MediaError, MediaReader, sample_span
from data.subtitles import Cue, Word
from model.alignment import align_words
from model.audio import HOP_LENGTH, N_FRAMES, SAMPLE_RATE, encoder_positions, window_mel
from model.checkpoint import LoadedModel
from model.decoder import CrossCache
from model.search import decode_with_fallback, detect_language, is_no_speech

VAD_BLOCK_SECONDS = 120.0  # audio read per step of the speech detector
# Audio up to this long is kept from the speech pass for the chunks (at most ~38 MB)
# instead of being decoded a second time (~4% of a run's time, measured).
KEEP_AUDIO_SECONDS = 600.0

# Whisper writes these over music and noise; alone they are not speech.
NON_SPEECH_TEXT = frozenset("♪♫♬ .…-*()[]")


@dataclass(frozen=True)
class BatchOptions:
    batch_size: int = 8  # chunks per forward pass
    workers: int = 1  # threads reading media ahead of the model (0: the model's thread reads)
    cuda_dtype: str = "float16"  # autocast precision on CUDA: float16, bfloat16 or float32
    # On a CPU a window is encoded over its chunk's audio and this many seconds of the
    # padding after it, not the full 30 s; None: always 30 s, as Whisper was trained.
    encoder_padding: float | None = None


@dataclass
class ChunkInput:
    file: int  # index of the file in the run
    chunk: Chunk
    audio: np.ndarray  # (N,) 16 kHz, at most a window
    content_frames: int  # 10-ms mel frames of real audio (the rest is padding)
    frames: torch.Tensor | None  # (F, S, S, 3) uint8, only when the visual branch is used
    frame_times: torch.Tensor | None  # (F,) seconds on the chunk's joined clock


@dataclass
class FileRead:
    """Sent after a file's last chunk: how many chunks it had, or why it failed."""

    file: int
    n_chunks: int
    duration: float
    error: str | None = None
    speech: list[tuple[float, float]] = field(default_factory=list)  # unpadded regions


@dataclass
class FileResult:
    file: int
    source: Path
    cues: list[Cue] | None  # None when the file failed
    duration: float
    error: str | None
    language: str | None = None  # the language the file was decoded in


def _libc_malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to call
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def _return_free_memory() -> None:
    """Give the heap's free pages back to the system (after beam search and after a batch).
    glibc keeps them, and the next phase's tensors rarely fit the holes: on a 60-minute
    file each batch's alignment peaked ~70 MB above its beam search, and the resident
    memory between batches crept up ~10 MB a batch (measured; with this, peak RSS 1474 ->
    1409 MB, each batch starting from the same ~1022 MB)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def failure_line(source: Path | str, error: Exception) -> str:
    """An unexpected error while subtitling `source` as the one line users see."""
    return f"{source}: {type(error).__name__}: {' '.join(str(error).split())}"


def _read_speech(reader: MediaReader, options: SpeechOptions, keep_seconds: float = 0.0):
    """One streaming pass over the audio -> (chunks to decode, speech regions, duration,
    the whole audio (N,) when it is at most `keep_seconds` long, else None)."""
    total = 0
    kept: list[np.ndarray] | None = [] if keep_seconds > 0 else None

    def blocks():
        nonlocal total, kept
        start = 0.0
        while True:
            block = reader.audio(start, start + VAD_BLOCK_SECONDS)
            if len(block) == 0:
                return
            total += len(block)
            if kept is not None:
                kept.append(block)
                if total > keep_seconds * SAMPLE_RATE:
                    kept = None  # too long to hold: the chunks are read again
            yield block
            start += VAD_BLOCK_SECONDS

    probabilities = speech_probabilities(blocks())
    duration = total / SAMPLE_RATE
    speech = speech_regions(probabilities, duration, options)
    chunks = plan_chunks(padded_regions(speech, options.pad, duration), options)
    audio = None if kept is None else np.concatenate(kept or [np.zeros(0, np.float32)])
    return chunks, speech, duration, audio


def _read_chunk(
    reader: MediaReader | None, chunk: Chunk, with_frames: bool, audio: np.ndarray | None
):
    """The chunk's regions joined: audio (N,), and frames (F, S, S, 3) with their times (F,)
    on the joined clock when the visual branch is used. audio: the file's whole audio when
    it was kept from the speech pass (sliced as MediaReader.audio would read it)."""
    pieces, pixels, stamps, offset = [], [], [], 0.0
    for start, end in chunk.regions:
        if audio is None:
            pieces.append(reader.audio(start, end))
        else:
            first, stop = sample_span(start, end, SAMPLE_RATE)
            pieces.append(audio[first:stop])
        if with_frames:
            region_pixels, region_stamps = reader.frames(start, end)
            pixels.append(region_pixels)
            stamps.append(region_stamps - start + offset)
        offset += end - start
    if not with_frames:
        return np.concatenate(pieces), None, None
    frames = torch.from_numpy(np.ascontiguousarray(np.concatenate(pixels)))
    return np.concatenate(pieces), frames, torch.from_numpy(np.concatenate(stamps)).float()


def read_file_chunks(
    index: int, source: Path, loaded: LoadedModel, options: SubtitleOptions
) -> Iterator[ChunkInput | FileRead]:
    """A file's chunks, ready for the model, then its FileRead (also on failure)."""
    config = loaded.model.config
    with_frames = loaded.model.uses_vision()
    fps = options.fps or config.frames_per_second
    n_chunks = 0
    try:
        with MediaReader(source, SAMPLE_RATE, fps=fps, frame_size=config.frame_size) as reader:
            chunks, speech, duration, whole = _read_speech(
                reader, options.speech, KEEP_AUDIO_SECONDS
            )
        # A second forward pass reads only the chunks: the audio of a long file is never
        # held whole, and a short file's is not decoded twice.
        second_pass = whole is None or with_frames
        opened = (
            MediaReader(source, SAMPLE_RATE, fps=fps, frame_size=config.frame_size)
            if second_pass
            else nullcontext()
        )
        with opened as reader:
            for chunk in chunks:
                audio, frames, times = _read_chunk(reader, chunk, with_frames, whole)
                yield ChunkInput(
                    file=index,
                    chunk=chunk,
                    audio=audio,
                    content_frames=min(N_FRAMES, len(audio) // HOP_LENGTH),
                    frames=frames,
                    frame_times=times,
                )
                n_chunks += 1
        yield FileRead(index, n_chunks, duration, speech=speech)
    except MediaError as error:
        yield FileRead(index, n_chunks, 0.0, str(error))
    except (RuntimeError, ValueError, OSError) as error:
        yield FileRead(index, n_chunks, 0.0, failure_line(source, error))


def _in_threads(
    sources: list[Path], read: Callable[[int, Path], Iterator], workers: int, depth: int
) -> Iterator[ChunkInput | FileRead]:
    """Items of all files, read by `workers` threads, at most `depth` waiting at a time."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    next_file = iter(enumerate(sources))
    lock = threading.Lock()
    stop = threading.Event()
    finished = object()

    def work():
        try:
            while not stop.is_set():
                with lock:
                    job = next(next_file, None)
                if job is None:
                    return
                for item in read(*job):
                    while not stop.is_set():
                        try:
                            items.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
        finally:
            items.put(finished)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = items.get()
            if item is finished:
                running -= 1
            else:
                yield item
    finally:
        stop.set()  # the consumer stopped early (error, Ctrl-C): let the threads end
        while any(t.is_alive() for t in threads):
            try:
                items.get(timeout=0.1)
            except queue.Empty:
                pass


@dataclass
class _FileState:
    words: list[Word] = field(default_factory=list)
    decoded: int = 0
    reported: float = 0.0  # media seconds already passed to on_seconds
    read: FileRead | None = None
    language: str | None = None
    error: str | None = None  # decoding failed (e.g. out of memory): the file is given up


def _decode_batch(
    batch: list[ChunkInput],
    loaded: LoadedModel,
    options: SubtitleOptions,
    files: dict,
    encoder_padding: float | None = None,
) -> list[list[Word]]:
    """Words of each chunk of the batch, in media time."""
    model, tok = loaded.model, loaded.tokenizer
    decoding = options.decoding
    device = model.device
    n_mels = model.config.n_mels
    mel = torch.stack([window_mel(item.audio, n_mels) for item in batch]).to(
        device
    )  # (B, n_mels, 3000)
    frames = times = mask = None
    if any(item.frames is not None and len(item.frames) for item in batch):
        most = max(len(item.frames) for item in batch)
        size = batch[0].frames.shape[1:]
        frames = torch.zeros((len(batch), most, *size), dtype=torch.uint8)
        times = torch.zeros((len(batch), most))
        mask = torch.zeros((len(batch), most), dtype=torch.bool)
        for row, item in enumerate(batch):
            n = len(item.frames)
            frames[row, :n], times[row, :n], mask[row, :n] = item.frames, item.frame_times, True
        frames, times, mask = frames.to(device), times.to(device), mask.to(device)
    # On a CPU the encoder is no faster batched (1500 positions already fill the matrix
    # products) but its attention maps grow with the batch (~55 MB a window), so windows
    # are encoded one at a time there, each over its own audio and `encoder_padding`
    # seconds after it: the encoder's time grows with its input (its attention with the
    # square), and the decoder's cross-attention reads fewer keys at every step. A GPU
    # takes the whole batch of full windows.
    step = len(batch) if device.type == "cuda" else 1
    trimmed = step == 1 and frames is None and encoder_padding is not None
    positions = [
        encoder_positions(item.content_frames, encoder_padding if trimmed else None)
        for item in batch
    ]

    def rows(tensor, i):
        return None if tensor is None else tensor[i : i + step]

    with torch.no_grad():
        parts = (
            model.encode(
                rows(mel, i)[..., : 2 * positions[i]],
                rows(frames, i),
                rows(times, i),
                rows(mask, i),
            )
            for i in range(0, len(batch), step)
        )
        cross = CrossCache.join(parts, len(batch), max(positions) if trimmed else None)
    del mel
    # The language of a file is that of its first decoded chunk (Whisper's rule).
    languages = []
    for row, item in enumerate(batch):
        state = files[item.file]
        if state.language is None:
            if decoding.language is not None or not tok.multilingual:
                state.language = decoding.language or "en"
            else:
                state.language = detect_language(model, tok, cross.narrow(row, 1))[0]
        languages.append(state.language)
    words: list[list[Word]] = [[] for _ in batch]
    for language in sorted(set(languages)):
        rows = [r for r, lang in enumerate(languages) if lang == language]
        index = torch.tensor(rows, device=device)
        group = cross.index_select(index)
        sot = tok.sot_sequence(language, decoding.task, False)  # the alignment's
        # Some languages decode with timestamp tokens (data/language_rules.py says why).
        timed = rules_for(language).timestamped_decoding and tok.multilingual
        results = decode_with_fallback(
            model, tok, group, tok.sot_sequence(language, decoding.task, True) if timed else sot,
            [[] for _ in rows], replace(decoding, without_timestamps=False) if timed else decoding,
        )  # fmt: skip
        _return_free_memory()  # the alignment's tensors then reuse beam search's pages
        texts = []  # per row of the group; empty where there is no speech
        for result in results:
            silent = is_no_speech(result, decoding) or set(result.text) <= NON_SPEECH_TEXT
            texts.append([] if silent else [t for t in result.tokens if t < tok.eot])
        aligned = align_words(
            model,
            tok,
            group,
            sot,
            texts,
            [batch[row].content_frames for row in rows],
            [0.0] * len(rows),
            probabilities=False,  # no output carries them
        )
        for row, found in zip(rows, aligned, strict=True):
            chunk = batch[row].chunk
            words[row] = [
                Word(*chunk.to_media(w.start, w.end), w.text, w.probability) for w in found
            ]
    return words


def subtitle_files(
    sources: list[Path],
    loaded: LoadedModel,
    options: SubtitleOptions,
    batch: BatchOptions,
    on_seconds: Callable[[float], None] | None = None,
) -> Iterator[FileResult]:
    """Subtitle every file; results come as files finish (not necessarily in order).
    on_seconds(s) reports seconds of media decoded since the last call."""
    states = {i: _FileState() for i in range(len(sources))}
    # Chunks are decoded alone: no timestamp tokens (the alignment times the words) and
    # no previous text to condition on.
    options = replace(options, decoding=replace(options.decoding, without_timestamps=True))

    def read(index: int, source: Path):
        return read_file_chunks(index, source, loaded, options)

    if batch.workers > 0:
        # One batch of chunks waiting keeps the model fed (as fast as two, measured) and
        # holds half the audio of two (the 60-minute file's peak: 1311 -> 1293 MB).
        items = _in_threads(sources, read, batch.workers, depth=batch.batch_size)
    else:
        items = (item for index, source in enumerate(sources) for item in read(index, source))

    def finished(index: int) -> FileResult | None:
        state = states[index]
        if state.read is None or (state.read.error is None and state.decoded < state.read.n_chunks):
            return None
        del states[index]
        report(state, state.read.duration)  # the silence after the last chunk
        if state.read.error or state.error:
            return FileResult(index, sources[index], None, 0.0, state.read.error or state.error)
        words = snap_to_speech(sorted(state.words, key=lambda w: w.start), state.read.speech)
        written = "en" if options.decoding.task == "translate" else state.language
        cues = layout_language_words(
            words, written, options.layout, options.chinese, state.read.duration
        )
        return FileResult(index, sources[index], cues, state.read.duration, None, state.language)

    pending: list[ChunkInput] = []

    def report(state: _FileState, until: float):
        if on_seconds is not None and until > state.reported:
            on_seconds(until - state.reported)
            state.reported = until

    device = loaded.model.device
    precision = getattr(torch, batch.cuda_dtype)
    autocast = device.type == "cuda" and precision != torch.float32

    def run_batch():
        # Chunks of files that already failed are not decoded, only counted.
        decodable = [item for item in pending if states[item.file].error is None]
        try:
            with torch.autocast("cuda", dtype=precision, enabled=autocast):
                decoded = (
                    _decode_batch(decodable, loaded, options, states, batch.encoder_padding)
                    if decodable
                    else []
                )
        except (RuntimeError, ValueError) as failure:  # e.g. out of memory: fail these files
            for item in decodable:
                states[item.file].error = failure_line(sources[item.file], failure)
            decoded = [[] for _ in decodable]
        words_of = {id(item): words for item, words in zip(decodable, decoded, strict=True)}
        done = []
        for item in pending:
            state = states[item.file]
            state.words.extend(words_of.get(id(item), []))
            state.decoded += 1
            report(state, item.chunk.end)
            done.append(item.file)
        pending.clear()
        _return_free_memory()
        return done

    def decode_pending() -> Iterator[FileResult]:
        for index in sorted(set(run_batch())):
            result = finished(index)
            if result is not None:
                yield result

    for item in items:
        if isinstance(item, FileRead):
            state = states[item.file]
            state.read = item
            if item.error:
                pending[:] = [p for p in pending if p.file != item.file]
            result = finished(item.file)
            if result is not None:
                yield result
            continue
        pending.append(item)
        if len(pending) >= batch.batch_size:
            yield from decode_pending()
    if pending:
        yield from decode_pending()
