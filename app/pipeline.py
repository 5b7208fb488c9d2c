"""From a media file to timed subtitles with an AVCaptioner.

Whisper's long-form loop: 30 s windows; each window's frames go to the FrameEncoder (only
when the visual gates are non-zero); the next window starts at the last complete
timestamp pair; silent windows (no-speech probability) are skipped; the previous text
conditions the next window. Media are read window by window, so memory stays flat.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from app.layout import LayoutOptions, layout_segment
from data.media import MediaReader
from data.subtitles import Cue
from model.audio import (
    CHUNK_SECONDS,
    FRAMES_PER_SECOND,
    HOP_LENGTH,
    INPUT_STRIDE,
    N_FRAMES,
    SAMPLE_RATE,
    TIME_PRECISION,
    window_mel,
)
from model.checkpoint import LoadedModel
from model.search import DecodingOptions, decode_with_fallback, detect_language

# A window whose loudest sample is below -60 dBFS holds no speech; Whisper-family models
# invent text ("You") on digital silence, so such windows are not decoded at all.
SILENCE_PEAK = 1e-3

Progress = Callable[[float, float], None]  # (seconds done, total seconds)


@dataclass(frozen=True)
class SubtitleOptions:
    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    layout: LayoutOptions = field(default_factory=LayoutOptions)
    fps: float | None = None  # frames per second for the visual tokens; None: the model's


@dataclass
class Segment:
    start: float
    end: float
    text: str
    tokens: list[int]


@dataclass
class WindowInput:
    """What the model sees of one window: (1, n_mels, 3000) mel and its frames."""

    silent: bool  # no sample above SILENCE_PEAK: nothing else is computed
    mel: torch.Tensor | None
    frames: torch.Tensor | None  # (1, F, S, S, 3) uint8
    frame_times: torch.Tensor | None  # (1, F) seconds from the window start


def read_window(
    reader: MediaReader, start: float, loaded: LoadedModel, with_frames: bool
) -> tuple[WindowInput, int]:
    """The window starting at `start` seconds, and how many mel frames of media it holds."""
    audio = reader.audio(start, start + CHUNK_SECONDS)
    content_frames = min(N_FRAMES, len(audio) // HOP_LENGTH)
    silent = len(audio) == 0 or float(np.abs(audio).max()) < SILENCE_PEAK
    if silent:
        return WindowInput(True, None, None, None), content_frames
    device = loaded.model.device
    mel = window_mel(audio, loaded.model.config.n_mels)[None].to(device)
    frames = times = None
    if with_frames:
        pixels, stamps = reader.frames(start, start + CHUNK_SECONDS)
        if len(pixels):
            frames = torch.from_numpy(np.ascontiguousarray(pixels))[None].to(device)
            times = torch.from_numpy(stamps - start).float()[None].to(device)
    return WindowInput(False, mel, frames, times), content_frames


def split_timestamped(
    tokens: list[int], ts_begin: int, time_offset: float, window_frames: int, tokenizer
):
    """Whisper's rule for one window's tokens -> (segments, mel frames to advance)."""
    is_ts = [t >= ts_begin for t in tokens]
    segments = []
    single_ending = is_ts[-2:] == [False, True]
    consecutive = [i + 1 for i in range(len(tokens) - 1) if is_ts[i] and is_ts[i + 1]]
    if consecutive:
        slices = consecutive + ([len(tokens)] if single_ending else [])
        last = 0
        for current in slices:
            piece = tokens[last:current]
            segments.append(Segment(
                start=time_offset + (piece[0] - ts_begin) * TIME_PRECISION,
                end=time_offset + (piece[-1] - ts_begin) * TIME_PRECISION,
                text=tokenizer.decode(piece).strip(), tokens=piece,
            ))  # fmt: skip
            last = current
        if single_ending:
            advance = window_frames
        else:
            advance = (tokens[last - 1] - ts_begin) * INPUT_STRIDE
    else:
        duration = window_frames / FRAMES_PER_SECOND
        stamps = [t for t in tokens if t >= ts_begin]
        if stamps and stamps[-1] != ts_begin:
            duration = (stamps[-1] - ts_begin) * TIME_PRECISION
        segments.append(
            Segment(time_offset, time_offset + duration, tokenizer.decode(tokens).strip(), tokens)
        )
        advance = window_frames
    return segments, advance


def transcribe(
    reader: MediaReader,
    loaded: LoadedModel,
    options: SubtitleOptions,
    progress: Progress | None = None,
) -> list[Segment]:
    """All timed segments of the opened media, window by window."""
    model, tok = loaded.model, loaded.tokenizer
    decoding = options.decoding
    with_frames = model.uses_vision()
    duration = reader.info.duration
    seek = 0  # in mel frames (10 ms)
    segments: list[Segment] = []
    all_tokens: list[int] = []
    prompt_reset = 0
    sot_sequence = None
    while True:
        start = seek / FRAMES_PER_SECOND
        window, content_frames = read_window(reader, start, loaded, with_frames)
        if content_frames <= 0:
            break
        if window.silent:
            seek += content_frames
            if progress is not None:
                progress(min(seek / FRAMES_PER_SECOND, duration), duration)
            continue
        with torch.no_grad():
            cross = model.encode(window.mel, window.frames, window.frame_times)
        if sot_sequence is None:
            language = decoding.language
            if language is None:
                language = detect_language(model, tok, cross)[0] if tok.multilingual else "en"
            sot_sequence = tok.sot_sequence(
                language, decoding.task, not decoding.without_timestamps
            )
        prompt = all_tokens[prompt_reset:] if decoding.condition_on_previous_text else []
        result = decode_with_fallback(model, tok, cross, sot_sequence, [prompt], decoding)[0]
        silent = (
            decoding.no_speech_threshold is not None
            and result.no_speech_prob > decoding.no_speech_threshold
        )
        if (
            silent
            and decoding.logprob_threshold is not None
            and result.avg_logprob > decoding.logprob_threshold
        ):
            silent = False  # confident text despite the no-speech token
        if silent:
            seek += content_frames
        else:
            if decoding.without_timestamps:
                found = [
                    Segment(
                        start,
                        start + content_frames / FRAMES_PER_SECOND,
                        result.text,
                        result.tokens,
                    )
                ]
                advance = content_frames
            else:
                found, advance = split_timestamped(
                    result.tokens, tok.timestamp_begin, start, content_frames, tok
                )
            found = [s for s in found if s.text and s.end > s.start]
            segments.extend(found)
            all_tokens.extend(t for s in found for t in s.tokens)
            if result.temperature > 0.5:
                prompt_reset = len(all_tokens)  # a shaky window should not steer the next one
            seek += max(advance, 1)
        if progress is not None:
            progress(min(seek / FRAMES_PER_SECOND, duration), duration)
        if content_frames < N_FRAMES and seek >= content_frames + start * FRAMES_PER_SECOND:
            break  # that was the last window
    return segments


def segments_to_cues(
    segments: list[Segment], layout: LayoutOptions, duration: float | None = None
) -> list[Cue]:
    cues = []
    for segment in segments:
        end = min(segment.end, duration) if duration else segment.end
        cues.extend(layout_segment(segment.start, max(end, segment.start), segment.text, layout))
    return cues


def subtitle(
    path: str | os.PathLike,
    loaded: LoadedModel,
    options: SubtitleOptions | None = None,
    progress: Progress | None = None,
) -> list[Cue]:
    """Subtitle one media file. Raises data.media.MediaError for unreadable media."""
    options = options or SubtitleOptions()
    fps = options.fps or loaded.model.config.frames_per_second
    with MediaReader(
        path, SAMPLE_RATE, fps=fps, frame_size=loaded.model.config.frame_size
    ) as reader:
        segments = transcribe(reader, loaded, options, progress)
        return segments_to_cues(segments, options.layout, reader.info.duration)
