"""Media files -> timed subtitles: the stages run in order, chunks from one or several files
sharing each batch.

    file_reading (media -> speech regions -> chunks, in reader threads)
      -> batch_decoding (encode, beam search, word timing; parts to decode again)
      -> layout (words -> cues)

A file is finished when its last chunk (and every part decoded again) is done: its words
are laid out into cues and handed back, so memory stays flat however many or however long
the files are. `subtitle_file` does one file, through Whisper's own sequential loop instead
when voice activity is off or the model has no timestamps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from app.batch_decoding import ChunkOutcome, decode_batch
from app.chunks import ChunkInput, Span
from app.file_reading import FileRead, failure_line, read_file_chunks
from app.language_layout import layout_language_words
from app.memory import return_free_memory
from app.options import SubtitleOptions
from app.reader_threads import read_in_threads
from app.whisper_loop import Progress, whisper_loop_cues
from app.word_timing import snap_to_speech
from data.media import MediaError, probe
from data.shot_changes import ShotChanges
from data.subtitles import Cue, Word
from model.checkpoint import LoadedModel


@dataclass(frozen=True)
class BatchOptions:
    batch_size: int = 8  # chunks per forward pass
    workers: int = 1  # threads reading media ahead of the model (0: the model's thread reads)
    cuda_dtype: str = "float16"  # autocast precision on CUDA: float16, bfloat16 or float32
    # On a CPU a window is encoded over its chunk's audio and this many seconds of the
    # padding after it, not the full 30 s; None: always 30 s, as Whisper was trained.
    encoder_padding: float | None = None


@dataclass
class FileResult:
    file: int  # index of the file in the run
    source: Path
    cues: list[Cue] | None  # None when the file failed
    duration: float
    error: str | None
    # Detected speech that got no word even when decoded on its own: (start, end) seconds.
    unheard: list[Span] = field(default_factory=list)
    language: str | None = None  # the language the file was decoded in
    model: str | None = None  # the name of the model that subtitled it
    shots: ShotChanges | None = None  # the video's cuts the cues were timed to


def file_details(result: FileResult, damage: str | None = None) -> dict:
    """What the JSON output says about a file beside its cues: the model and language it
    was subtitled with, speech that got no words, why the media could be read only in part
    (damage; None: read whole), and the video's cuts the cues were timed to."""
    details = {
        "model": result.model,
        "language": result.language,
        "speech_without_words": [
            {"start": round(start, 3), "end": round(end, 3)} for start, end in result.unheard
        ],
        "damaged": damage,
    }
    if result.shots is not None:
        details["shot_changes"] = [round(t, 6) for t in result.shots.times]
        details["fps"] = result.shots.fps
    return details


def with_screen_terms(
    cues: list[Cue], decoded: list[tuple[float, float, tuple[str, ...]]]
) -> list[Cue]:
    """Each cue with the on-screen terms of the decodings its words came from."""
    if not decoded:
        return cues
    marked = []
    for cue in cues:
        terms: list[str] = []
        for start, end, given in decoded:
            if start < cue.end and end > cue.start:
                terms.extend(t for t in given if t not in terms)
        marked.append(replace(cue, screen_terms=tuple(terms)))
    return marked


def unheard_line(source: Path | str, spans: list[tuple[float, float]]) -> str:
    """One line naming the stretches of detected speech that got no words."""
    times = ", ".join(f"{start:.1f}-{end:.1f} s" for start, end in spans)
    return f"{source}: {len(spans)} stretch(es) of speech got no words: {times}"


class FileProgress:
    """One file on its way through the run: its words so far and what is still out."""

    def __init__(self) -> None:
        self.words: list[Word] = []
        self.unheard: list[Span] = []
        self.screen_terms: list[tuple[float, float, tuple[str, ...]]] = []
        self.outstanding = 0  # chunks handed to the model and not yet decoded
        self.reported = 0.0  # media seconds already passed to on_seconds
        self.read: FileRead | None = None  # set when its reader has sent every chunk
        self.error: str | None = None  # decoding failed (e.g. out of memory): given up

    @property
    def done(self) -> bool:
        return self.read is not None and (self.read.error is not None or not self.outstanding)

    def add(self, outcome: ChunkOutcome) -> None:
        self.words.extend(outcome.words)
        self.unheard.extend(outcome.unheard)
        self.screen_terms.extend(outcome.screen_terms)


def subtitle_files(
    sources: list[Path],
    loaded: LoadedModel,
    options: SubtitleOptions,
    batch: BatchOptions,
    on_seconds: Callable[[float], None] | None = None,
) -> Iterator[FileResult]:
    """Subtitle every file; results come as files finish (not necessarily in order).
    on_seconds(s) reports seconds of media decoded since the last call."""
    files = {i: FileProgress() for i in range(len(sources))}
    languages: dict[int, str] = {}
    config = loaded.model.config
    with_frames = loaded.model.uses_vision()
    fps = options.fps or config.frames_per_second

    def read(index: int, source: Path):
        shots = options.shot_changes == "auto"
        screen = options.visual_context == "auto"
        return read_file_chunks(
            index, source, options.speech, with_frames, fps, config.frame_size, shots, screen
        )

    if batch.workers > 0:
        # One batch of chunks waiting keeps the model fed and holds half the audio of two.
        items = read_in_threads(sources, read, batch.workers, depth=batch.batch_size)
    else:
        items = (item for index, source in enumerate(sources) for item in read(index, source))

    device = loaded.model.device
    precision = getattr(torch, batch.cuda_dtype)
    autocast = device.type == "cuda" and precision != torch.float32
    pending: list[ChunkInput] = []

    def report(progress: FileProgress, until: float) -> None:
        if on_seconds is not None and until > progress.reported:
            on_seconds(until - progress.reported)
            progress.reported = until

    def finish(index: int) -> FileResult:
        progress = files.pop(index)
        language = languages.pop(index, None)
        read_ = progress.read
        report(progress, read_.duration)  # the silence after the last chunk
        error = read_.error or progress.error
        if error:
            return FileResult(index, sources[index], None, 0.0, error)
        words = snap_to_speech(sorted(progress.words, key=lambda w: w.start), read_.speech)
        written = "en" if options.decoding.task == "translate" else language
        cues = layout_language_words(
            words, written, options.layout, options.chinese, read_.duration, read_.shots
        )
        cues = with_screen_terms(cues, progress.screen_terms)
        unheard = sorted(progress.unheard)
        return FileResult(
            index,
            sources[index],
            cues,
            read_.duration,
            None,
            unheard,
            language,
            loaded.name,
            read_.shots,
        )

    def run_batch() -> list[int]:
        """Decode up to a batch of pending chunks; parts to decode again go back in line.
        Returns the files whose chunks were decoded."""
        taken, pending[:] = pending[: batch.batch_size], pending[batch.batch_size :]
        # Chunks of files that already failed are not decoded, only counted.
        decodable = [item for item in taken if files[item.file].error is None]
        try:
            with torch.autocast("cuda", dtype=precision, enabled=autocast):
                outcomes = (
                    decode_batch(
                        decodable, loaded, options.decoding, languages, batch.encoder_padding
                    )
                    if decodable
                    else []
                )
        except (RuntimeError, ValueError) as failure:  # e.g. out of memory: fail these files
            for item in decodable:
                files[item.file].error = failure_line(sources[item.file], failure)
            outcomes = [ChunkOutcome() for _ in decodable]
        outcome_of = {id(item): outcome for item, outcome in zip(decodable, outcomes, strict=True)}
        for item in taken:
            progress = files[item.file]
            outcome = outcome_of.get(id(item), ChunkOutcome())
            progress.add(outcome)
            progress.outstanding -= 1
            if progress.error is None:
                pending[:0] = outcome.again  # first in the next batch
                progress.outstanding += len(outcome.again)
            if not outcome.again:
                report(progress, item.chunk.end)
        return_free_memory()
        return [item.file for item in taken]

    def finished_files(indices: list[int]) -> Iterator[FileResult]:
        for index in sorted(set(indices)):
            if index in files and files[index].done:
                yield finish(index)

    for item in items:
        if isinstance(item, FileRead):
            progress = files[item.file]
            progress.read = item
            if item.error:
                pending[:] = [p for p in pending if p.file != item.file]
            yield from finished_files([item.file])
            continue
        files[item.file].outstanding += 1
        pending.append(item)
        if len(pending) >= batch.batch_size:
            yield from finished_files(run_batch())
    while pending:
        yield from finished_files(run_batch())


def subtitle_file(
    path: str | os.PathLike,
    loaded: LoadedModel,
    options: SubtitleOptions | None = None,
    progress: Progress | None = None,
    batch: BatchOptions | None = None,
) -> FileResult:
    """Subtitle one media file. Raises data.media.MediaError for unreadable media.
    `batch`: how speech chunks are batched (default: read in this thread)."""
    options = options or SubtitleOptions()
    if not (options.vad and loaded.tokenizer.timestamps):
        cues, duration = whisper_loop_cues(path, loaded, options, progress)
        language = options.decoding.language  # Whisper's loop does not report it
        return FileResult(0, Path(path), cues, duration, None, language=language, model=loaded.name)
    total = probe(path).duration
    done = 0.0

    def on_seconds(seconds: float):
        nonlocal done
        done += seconds
        if progress is not None:
            progress(min(done, total), total)

    batch = batch or BatchOptions(workers=0)
    (result,) = subtitle_files([Path(path)], loaded, options, batch, on_seconds)
    if result.error:
        raise MediaError(str(path), result.error.removeprefix(f"{path}: "))
    return result


def subtitle(
    path: str | os.PathLike,
    loaded: LoadedModel,
    options: SubtitleOptions | None = None,
    progress: Progress | None = None,
    batch: BatchOptions | None = None,
) -> list[Cue]:
    """The cues of one media file (see subtitle_file)."""
    return subtitle_file(path, loaded, options, progress, batch).cues
