"""From a media file to timed subtitles with an AVCaptioner.

Whisper's long-form loop: 30 s windows; each window's frames go to the FrameEncoder (only
when the visual gates are non-zero); the next window starts at the last complete
timestamp pair; silent windows (no-speech probability) are skipped; the previous text
conditions the next window. Media are read window by window, so memory stays flat.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from app.batch_pipeline import BatchOptions, subtitle_files
from app.layout import LayoutOptions, layout_segment
from app.options import SubtitleOptions
from data.media import MediaError, MediaReader, probe
from data.shot_changes import ShotChanges
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
from model.search import (
    DecodingOptions,
    WindowResult,
    decode_with_fallback,
    detect_language,
    is_no_speech,
)

# A window whose loudest sample is below -60 dBFS holds no speech; Whisper-family models
# invent text ("You") on digital silence, so such windows are not decoded at all.
SILENCE_PEAK = 1e-3

Progress = Callable[[float, float], None]  # (seconds done, total seconds)


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


def window_segments(
    result: WindowResult, start: float, content_frames: int, decoding: DecodingOptions, tok
) -> tuple[list[Segment], int]:
    """One decoded window -> its non-empty segments and how many mel frames to advance."""
    if is_no_speech(result, decoding):
        return [], content_frames
    if decoding.without_timestamps:
        end = start + content_frames / FRAMES_PER_SECOND
        found, advance = [Segment(start, end, result.text, result.tokens)], content_frames
    else:
        found, advance = split_timestamped(
            result.tokens, tok.timestamp_begin, start, content_frames, tok
        )
    return [s for s in found if s.text and s.end > s.start], max(advance, 1)


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
        shaky = False
        if window.silent:
            found, advance = [], content_frames
        else:
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
            found, advance = window_segments(result, start, content_frames, decoding, tok)
            shaky = result.temperature > 0.5
        segments.extend(found)
        all_tokens.extend(t for s in found for t in s.tokens)
        if shaky:
            prompt_reset = len(all_tokens)  # text decoded at a high temperature steers nothing
        seek += advance
        if progress is not None:
            progress(min(seek / FRAMES_PER_SECOND, duration), duration)
        if content_frames < N_FRAMES and seek >= start * FRAMES_PER_SECOND + content_frames:
            break  # that was the last window
    return segments


def caption_windows(
    reader: MediaReader,
    loaded: LoadedModel,
    options: SubtitleOptions,
    progress: Progress | None = None,
) -> list[Segment]:
    """A captioning model (no timestamp tokens): one caption per window, the window being
    the model's audio span (n_audio_ctx * 20 ms: e.g. 3 s for the synthetic models)."""
    model, tok = loaded.model, loaded.tokenizer
    span = min(CHUNK_SECONDS, model.config.n_audio_ctx * TIME_PRECISION)
    decoding = DecodingOptions(
        beam_size=options.decoding.beam_size,
        temperatures=(0.0,),
        compression_ratio_threshold=None,
        logprob_threshold=None,
        no_speech_threshold=None,
        condition_on_previous_text=False,
        without_timestamps=True,
        sample_len=options.decoding.sample_len,
    )
    duration = reader.info.duration
    segments, start = [], 0.0
    while start < duration - 1e-3:
        audio = reader.audio(start, start + span)
        mel = window_mel(audio, model.config.n_mels)[None].to(model.device)  # (1, n_mels, 3000)
        pixels, stamps = reader.frames(start, start + span)
        frames = times = None
        if len(pixels):
            frames = torch.from_numpy(np.ascontiguousarray(pixels))[None].to(model.device)
            times = torch.from_numpy(stamps - start).float()[None].to(model.device)
        with torch.no_grad():
            cross = model.encode(mel, frames, times)
            result = decode_with_fallback(model, tok, cross, [tok.sot], [[]], decoding)[0]
        end = min(start + span, duration)
        if result.text:
            segments.append(Segment(start, end, result.text, result.tokens))
        start += span
        if progress is not None:
            progress(min(start, duration), duration)
    return segments


def segments_to_cues(
    segments: list[Segment], layout: LayoutOptions, duration: float | None = None
) -> list[Cue]:
    cues: list[Cue] = []
    for segment in segments:
        if duration and segment.start >= duration:
            continue  # timestamps past the end of the media (seen over silence)
        end = min(segment.end, duration) if duration else segment.end
        for cue in layout_segment(segment.start, max(end, segment.start), segment.text, layout):
            if cues and cue.start - cues[-1].end < layout.min_gap:
                # Whisper's segments touch: the earlier cue gives up the gap.
                last = cues[-1]
                cues[-1] = Cue(last.start, max(last.start, cue.start - layout.min_gap), last.text)
            cues.append(cue)
    return cues


def subtitle_with_vad(
    path: str | os.PathLike,
    loaded: LoadedModel,
    options: SubtitleOptions,
    progress: Progress | None,
) -> tuple[list[Cue], ShotChanges | None]:
    """One file through the batched speech-chunk pipeline (its chunks batched together)."""
    total = probe(path).duration
    done = 0.0

    def on_seconds(seconds: float):
        nonlocal done
        done += seconds
        if progress is not None:
            progress(min(done, total), total)

    batch = BatchOptions(workers=0)
    (result,) = subtitle_files([Path(path)], loaded, options, batch, on_seconds)
    if result.error:
        raise MediaError(str(path), result.error.removeprefix(f"{path}: "))
    return result.cues, result.shots


def subtitle(
    path: str | os.PathLike,
    loaded: LoadedModel,
    options: SubtitleOptions | None = None,
    progress: Progress | None = None,
) -> list[Cue]:
    """Subtitle one media file. Raises data.media.MediaError for unreadable media."""
    return subtitle_with_shots(path, loaded, options, progress)[0]


def subtitle_with_shots(
    path: str | os.PathLike,
    loaded: LoadedModel,
    options: SubtitleOptions | None = None,
    progress: Progress | None = None,
) -> tuple[list[Cue], ShotChanges | None]:
    """`subtitle`, and the video's cuts the cues were timed to (None when not looked for:
    --shot-changes off, no video, or Whisper's own long-form loop)."""
    options = options or SubtitleOptions()
    if options.vad and loaded.tokenizer.timestamps:
        return subtitle_with_vad(path, loaded, options, progress)
    fps = options.fps or loaded.model.config.frames_per_second
    with MediaReader(
        path, SAMPLE_RATE, fps=fps, frame_size=loaded.model.config.frame_size
    ) as reader:
        if loaded.tokenizer.timestamps:
            segments = transcribe(reader, loaded, options, progress)
        else:
            segments = caption_windows(reader, loaded, options, progress)
        return segments_to_cues(segments, options.layout, reader.info.duration), None
