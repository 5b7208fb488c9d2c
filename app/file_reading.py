"""Stages 1-3 for one file: media -> speech regions -> chunks ready for the model.

The file is read forward only, twice when it is long: a first pass runs the speech detector
over the audio block by block, a second reads just the chunks' audio (and frames when the
visual branch is used), with the text on screen around each (read beside the first pass).
A short file's audio is kept from the first pass instead, so it is
decoded once. Memory stays flat however long the file is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.background import BackgroundCall, LowPriorityCall
from app.chunks import Chunk, ChunkInput, Span, plan_chunks, read_chunk, speech_inside
from app.screen_terms import content_lines, lines_for
from app.speech_regions import (
    SpeechOptions,
    padded_regions,
    speech_probabilities,
    speech_regions,
)
from data.media import SAMPLE_RATE, MediaError, MediaReader
from data.screen_text import ScreenLine, read_screen_text
from data.shot_changes import ShotChanges, detect_shot_changes

VAD_BLOCK_SECONDS = 120.0  # audio read per step of the speech detector
# Audio up to this long (at most ~38 MB) is kept from the speech pass for the chunks
# instead of being decoded a second time.
KEEP_AUDIO_SECONDS = 600.0


@dataclass
class FileRead:
    """Sent after a file's last chunk: how many chunks it had, or why it failed."""

    file: int
    n_chunks: int
    duration: float
    error: str | None = None
    speech: list[Span] = field(default_factory=list)  # unpadded regions
    shots: ShotChanges | None = None  # the video's cuts; None: no video or not looked for


def failure_line(source: Path | str, error: Exception) -> str:
    """An unexpected error while subtitling `source` as the one line users see."""
    return f"{source}: {type(error).__name__}: {' '.join(str(error).split())}"


def read_speech(reader: MediaReader, options: SpeechOptions, keep_seconds: float = 0.0):
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


def read_file_chunks(
    index: int,
    source: Path,
    speech_options: SpeechOptions,
    with_frames: bool,
    fps: float,
    frame_size: int,
    shot_changes: bool = False,
    screen_text: bool = False,
) -> Iterator[ChunkInput | FileRead]:
    """A file's chunks, ready for the model (with the text on screen around each when
    `screen_text`), then its FileRead (also on failure), with the video's cuts when
    `shot_changes`."""
    n_chunks = 0
    # The picture is searched for cuts beside the reading and the model, on spare CPU time.
    cuts = LowPriorityCall(detect_shot_changes, source) if shot_changes else None
    # The text on screen is read while the speech is found: the chunks wait for it.
    reading = BackgroundCall(read_screen_text, source) if screen_text else None
    try:
        with MediaReader(source, SAMPLE_RATE, fps=fps, frame_size=frame_size) as reader:
            chunks, speech, duration, whole = read_speech(
                reader, speech_options, KEEP_AUDIO_SECONDS
            )
        lines = _content_lines(reading)
        # A second forward pass reads only the chunks: the audio of a long file is never
        # held whole, and a short file's is not decoded twice.
        second_pass = whole is None or with_frames
        opened = (
            MediaReader(source, SAMPLE_RATE, fps=fps, frame_size=frame_size)
            if second_pass
            else nullcontext()
        )
        with opened as reader:
            for chunk in chunks:
                yield _chunk_input(index, reader, chunk, with_frames, whole, speech, lines)
                n_chunks += 1
        shots = cuts.result() if cuts else None
        yield FileRead(index, n_chunks, duration, speech=speech, shots=shots)
    except MediaError as error:
        yield FileRead(index, n_chunks, 0.0, str(error))
    except (RuntimeError, ValueError, OSError) as error:
        yield FileRead(index, n_chunks, 0.0, failure_line(source, error))


def _content_lines(reading: BackgroundCall | None) -> list[ScreenLine]:
    """The lines of text on screen worth decoding with; none when the picture could not be
    read (the sound may still be)."""
    try:
        screen = reading.result() if reading else None
    except Exception:  # the text on screen only helps: its failure must not lose the file
        return []
    return content_lines(screen) if screen else []


def _chunk_input(
    index: int,
    reader: MediaReader | None,
    chunk: Chunk,
    with_frames: bool,
    whole: np.ndarray | None,
    speech: list[Span],
    lines: list[ScreenLine],
) -> ChunkInput:
    audio, frames, times = read_chunk(reader, chunk, with_frames, whole)
    inside = speech_inside(speech, chunk)
    screen = lines_for(lines, chunk.start, chunk.end)
    return ChunkInput(index, chunk, audio, inside, frames, times, screen=screen)
