"""`--model auto`: each file's language is detected by the multilingual model on its first
speech, English files are subtitled by tiny.en (faster, and what the English default has
always written), every other language by base with that language fixed.

Detection reads only the start of a file: voice activity over blocks of 20 s until 10 s
of speech are found, the speech packed as the pipeline packs its first chunk, one encoder
pass over those 10 s (and 2 s of padding, not a whole 30-s window) and one decoder step
(Whisper's rule: the language of the first speech).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from app.chunks import plan_chunks
from app.file_reading import failure_line
from app.folder import Job, RunSummary, caption_files, jobs_to_do
from app.options import SubtitleOptions
from app.speech_regions import padded_regions, speech_probabilities, speech_regions
from app.subtitle_run import BatchOptions
from data.media import SAMPLE_RATE, MediaError, MediaReader, sample_span
from data.media import decoding as media_rules
from model.audio import HOP_LENGTH, INPUT_STRIDE, encoder_positions, window_mel
from model.checkpoint import LoadedModel
from model.named_models import BASE, TINY_EN
from model.search import detect_language

DETECT_SECONDS = 20.0  # audio read per step while looking for the first speech
DETECT_HOLD_SECONDS = 120.0  # at most this much audio is held while speech is gathered
DETECT_SPEECH_SECONDS = 10.0  # of the first speech, what the language is detected on
DETECT_PADDING_SECONDS = 2.0  # of the window's padding encoded after it
# What reading or detecting one file may raise; the run goes on with the other files.
FILE_ERRORS = (MediaError, RuntimeError, ValueError, OSError)


def first_speech(path: Path, options: SubtitleOptions) -> np.ndarray | None:
    """The audio of the file's first speech chunk as far as it was read (N,): read in
    blocks until it holds DETECT_SPEECH_SECONDS of speech, DETECT_HOLD_SECONDS of audio
    or the file ends; None when the file has no speech. A block without speech is let go."""
    speech_options = options.speech
    block_samples = round(DETECT_SECONDS * SAMPLE_RATE)
    audio, start = np.zeros(0, np.float32), 0.0
    with MediaReader(path, SAMPLE_RATE, fps=1.0) as reader:
        while True:
            block = reader.audio(start, start + DETECT_SECONDS)
            ended = len(block) < block_samples
            audio = np.concatenate([audio, block])
            duration = len(audio) / SAMPLE_RATE
            regions = []
            if len(audio):
                regions = speech_regions(speech_probabilities([audio]), duration, speech_options)
            speech = sum(end - begin for begin, end in regions)
            if regions and (
                ended or speech >= DETECT_SPEECH_SECONDS or duration >= DETECT_HOLD_SECONDS
            ):
                break
            if ended:
                return None
            if not regions:
                audio = np.zeros(0, np.float32)
            start += DETECT_SECONDS
    chunk = plan_chunks(padded_regions(regions, speech_options.pad, duration), speech_options)[0]
    pieces = []
    for start, end in chunk.regions:
        first, stop = sample_span(start, end, SAMPLE_RATE)
        pieces.append(audio[first:stop])
    return np.concatenate(pieces)


@torch.no_grad()
def detect_file_language(path: Path, detector: LoadedModel, options: SubtitleOptions) -> str | None:
    """The language of the file's first speech by `detector` (multilingual), None without speech."""
    audio = first_speech(path, options)
    if audio is None:
        return None
    audio = audio[: round(DETECT_SPEECH_SECONDS * SAMPLE_RATE)]
    model = detector.model
    mel = window_mel(audio, model.config.n_mels)[None].to(model.device)  # (1, n_mels, 3000)
    # Only the speech and 2 s of the window's padding are encoded: a third of the cost of
    # the whole window or less, and the same languages on the benchmark's files.
    positions = encoder_positions(len(audio) // HOP_LENGTH, DETECT_PADDING_SECONDS)
    cross = model.encode(mel[..., : positions * INPUT_STRIDE])
    return detect_language(model, detector.tokenizer, cross)[0]


def model_for_language(language: str | None) -> str:
    """English (and files without speech) go to tiny.en, the rest to base."""
    return TINY_EN if language in (None, "en") else BASE


def caption_files_auto(
    jobs: list[Job],
    load: Callable[[str], LoadedModel],
    out_dir: Path,
    formats: tuple[str, ...],
    options: SubtitleOptions,
    overwrite: bool,
    on_file_done: Callable[[Job, str | None, list], None] | None,
    batch: BatchOptions,
    on_seconds: Callable[[float], None] | None,
    detector: Callable[[str], LoadedModel] | None = None,
) -> RunSummary:
    """caption_files with each file's model chosen by its language. `load(name)` gives a
    named model (loaded once: the caller caches), `detector(name)` the one that detects
    (default `load`). With --language given, no detection."""
    detector = detector or load
    summary = RunSummary()
    todo = jobs_to_do(jobs, out_dir, formats, overwrite, summary, on_file_done)
    groups: dict[str | None, list[Job]] = {}
    given = options.decoding.language
    for job in todo:
        if given is not None:
            groups.setdefault(given, []).append(job)
            continue
        try:
            # Damaged media are read as far as they go here too; the subtitling pass
            # reports the damage.
            with media_rules(on_damage=lambda _path, _note: None):
                language = detect_file_language(job.source, detector(BASE), options)
        except FILE_ERRORS as error:  # one bad file: the rest go on
            line = str(error) if isinstance(error, MediaError) else failure_line(job.source, error)
            summary.failed.append((str(job.source), line))
            if on_file_done:
                on_file_done(job, line, [])
            continue
        groups.setdefault(language, []).append(job)
    # English (and silent) files first: tiny.en, one run for all of them.
    for language in sorted(groups, key=lambda lang: (lang not in (None, "en"), lang or "")):
        name = model_for_language(language)
        loaded = load(name)
        decoding = options.decoding
        if loaded.tokenizer.multilingual:
            decoding = replace(decoding, language=language)
        part = caption_files(
            groups[language], loaded, out_dir, formats, replace(options, decoding=decoding),
            True, on_file_done, batch, on_seconds,
        )  # fmt: skip
        summary.done += part.done
        summary.failed += part.failed
        summary.unheard += part.unheard
        summary.damaged += part.damaged
        for source in part.done:  # the long-form loop (--no-vad) does not report a language
            summary.routes[source] = (name, part.routes[source][1] or language)
    return summary
