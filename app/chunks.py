"""Stage 3, chunks: speech regions packed into decoder windows, and what the model is given
of each.

A chunk's regions are joined end to end with the silences between them left out, so a
window holds up to 25 s of speech rather than 30 s of clock time and nothing is decoded
over silence, noise or music. Times inside a chunk are on this joined clock until
`Chunk.to_media` puts them back in the media.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from app.speech_regions import SpeechOptions
from data.media import SAMPLE_RATE, MediaReader, sample_span

Span = tuple[float, float]  # (start, end) seconds


@dataclass(frozen=True)
class Chunk:
    """Speech regions decoded as one window, in media seconds, in order."""

    regions: tuple[Span, ...]

    @property
    def start(self) -> float:
        return self.regions[0][0]

    @property
    def end(self) -> float:
        return self.regions[-1][1]

    @property
    def speech_seconds(self) -> float:
        return sum(end - start for start, end in self.regions)

    def to_media(self, start: float, end: float) -> Span:
        """A span on the joined clock -> the same span in the media, inside the one region
        that holds its middle (a word never straddles a removed silence)."""
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

    def to_joined(self, time: float) -> float:
        """A media time -> the joined clock (a time in a removed silence goes to the start
        of the next region)."""
        offset = 0.0
        for region_start, region_end in self.regions:
            if time < region_end:
                return offset + max(0.0, time - region_start)
            offset += region_end - region_start
        return offset

    def section(self, start: float, end: float) -> Chunk | None:
        """The part of the chunk between two times on its joined clock, or None if empty."""
        regions, offset = [], 0.0
        for region_start, region_end in self.regions:
            length = region_end - region_start
            lo, hi = max(start, offset), min(end, offset + length)
            if hi - lo > 1e-6:
                regions.append((region_start + lo - offset, region_start + hi - offset))
            offset += length
        return Chunk(tuple(regions)) if regions else None


def plan_chunks(regions: list[Span], options: SpeechOptions) -> list[Chunk]:
    """Pack consecutive speech regions into chunks of at most `max_chunk` seconds of speech;
    a region longer than that is cut into equal pieces."""
    pieces = []
    for start, end in regions:
        n = max(1, int(np.ceil((end - start) / options.max_chunk - 1e-9)))
        step = (end - start) / n
        pieces.extend((start + i * step, start + (i + 1) * step) for i in range(n))
    chunks: list[Chunk] = []
    current: list[Span] = []
    for piece in pieces:
        length = sum(e - s for s, e in current) + piece[1] - piece[0]
        if current and length > options.max_chunk + 1e-9:
            chunks.append(Chunk(tuple(current)))
            current = []
        current.append(piece)
    if current:
        chunks.append(Chunk(tuple(current)))
    return chunks


class Attempt(Enum):
    """Why a chunk is decoded."""

    FIRST = "first"  # planned from the speech regions
    REST = "rest"  # the part after the last timestamp of a decoding that ended early
    ALONE = "alone"  # a stretch of speech that got no word, decoded on its own


@dataclass
class ChunkInput:
    """One chunk, ready for the model."""

    file: int  # index of the file in the run
    chunk: Chunk
    audio: np.ndarray  # (N,) 16 kHz, the chunk's regions joined, at most a window
    speech: tuple[Span, ...]  # unpadded speech regions inside the chunk, media seconds
    frames: torch.Tensor | None = None  # (F, S, S, 3) uint8, only for the visual branch
    frame_times: torch.Tensor | None = None  # (F,) seconds on the joined clock
    attempt: Attempt = Attempt.FIRST
    screen: tuple[str, ...] = ()  # lines of text on screen during the chunk or just before

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    def part(self, start: float, end: float, attempt: Attempt) -> ChunkInput | None:
        """The same chunk cut to [start, end) on its joined clock (audio, frames, speech)."""
        chunk = self.chunk.section(start, end)
        if chunk is None:
            return None
        first, stop = sample_span(start, end, SAMPLE_RATE)
        frames = times = None
        if self.frames is not None:
            keep = (self.frame_times >= start) & (self.frame_times < end)
            frames, times = self.frames[keep], self.frame_times[keep] - start
        speech = tuple(
            (max(s, chunk.start), min(e, chunk.end))
            for s, e in self.speech
            if min(e, chunk.end) > max(s, chunk.start)
        )
        audio = self.audio[first:stop]
        return ChunkInput(self.file, chunk, audio, speech, frames, times, attempt, self.screen)


def speech_inside(speech: list[Span], chunk: Chunk) -> tuple[Span, ...]:
    """The parts of the speech regions that lie in the chunk's regions."""
    inside = []
    for region_start, region_end in chunk.regions:
        for start, end in speech:
            lo, hi = max(start, region_start), min(end, region_end)
            if hi > lo:
                inside.append((lo, hi))
    return tuple(inside)


def read_chunk(
    reader: MediaReader | None,
    chunk: Chunk,
    with_frames: bool,
    audio: np.ndarray | None,
) -> tuple[np.ndarray, torch.Tensor | None, torch.Tensor | None]:
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
