"""The folder runner: find media under the inputs, subtitle each file, write outputs that
mirror the input tree. Existing outputs are kept (resume) unless overwrite is asked;
every output is written atomically; one bad file never stops the run."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.file_reading import failure_line
from app.options import SubtitleOptions
from app.subtitle_run import (
    BatchOptions,
    FileResult,
    file_details,
    subtitle_file,
    subtitle_files,
)
from data.atomic import atomic_write_text, remove_stale_temporaries
from data.media import MEDIA_EXTENSIONS, MediaError, decoding, probe
from data.subtitles import write_subtitles
from model.checkpoint import LoadedModel

FAILURES_FILE = "caption-failures.jsonl"


@dataclass(frozen=True)
class Job:
    source: Path  # the media file
    relative: Path  # output path under the output folder, without extension


@dataclass
class RunSummary:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, one-line error)
    # Files with detected speech that got no words: (file, [(start, end) seconds]).
    unheard: list[tuple[str, list[tuple[float, float]]]] = field(default_factory=list)
    # Subtitled as far as they could be read: (file, "<file>: damaged: ...").
    damaged: list[tuple[str, str]] = field(default_factory=list)
    # The model and the spoken language (None: not known) of each file done.
    routes: dict[Path, tuple[str, str | None]] = field(default_factory=dict)


def find_jobs(
    inputs: list[str], extensions: frozenset[str] = MEDIA_EXTENSIONS
) -> tuple[list[Job], list[tuple[str, str]]]:
    """Files and folders (searched recursively, sorted) -> jobs, plus inputs that cannot be
    used, as (path, error). A file named directly is tried whatever its extension."""
    jobs, problems, claimed = [], [], {}
    for given in inputs:
        root = Path(given)
        if root.is_dir():
            found = sorted(
                p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in extensions
            )
            pairs = [(p, p.relative_to(root).with_suffix("")) for p in found]
        elif root.exists():
            pairs = [(root, Path(root.stem))]
        else:
            problems.append((given, f"{given}: no such file or folder"))
            continue
        for source, relative in pairs:
            if relative in claimed:
                problems.append(
                    (str(source), f"{source}: output name collides with {claimed[relative]}")
                )
                continue
            claimed[relative] = source
            jobs.append(Job(source, relative))
    return jobs, problems


def media_seconds(jobs: list[Job]) -> float:
    """Total duration of the jobs' media from their headers (unreadable files count 0)."""
    total = 0.0
    for job in jobs:
        try:
            total += probe(job.source).duration
        except MediaError:
            pass
    return total


def output_paths(job: Job, out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    return [out_dir / job.relative.with_suffix(f".{fmt}") for fmt in formats]


def jobs_to_do(
    jobs: list[Job],
    out_dir: Path,
    formats: tuple[str, ...],
    overwrite: bool,
    summary: RunSummary,
    on_file_done: Callable[[Job, str | None, list], None] | None,
) -> list[Job]:
    """The jobs whose outputs are missing (all of them with `overwrite`); the others are
    counted as skipped in `summary` and reported to on_file_done."""
    todo = []
    for job in jobs:
        if not overwrite and all(t.exists() for t in output_paths(job, out_dir, formats)):
            summary.skipped.append(job.source)
            if on_file_done:
                on_file_done(job, None, [])
        else:
            todo.append(job)
    return todo


def _one_by_one(
    sources: list[Path],
    loaded: LoadedModel,
    options: SubtitleOptions,
    on_seconds: Callable[[float], None] | None,
) -> Iterator[FileResult]:
    """Files in turn through `subtitle_file` (Whisper's long-form loop, captioning models)."""
    for index, source in enumerate(sources):
        reported = 0.0

        def progress(done: float, total: float):
            nonlocal reported
            if on_seconds is not None and done > reported:
                on_seconds(done - reported)
                reported = done

        try:
            result = subtitle_file(source, loaded, options, progress)
            yield replace(result, file=index, duration=reported)
        except MediaError as failure:
            yield FileResult(index, source, None, reported, str(failure))
        except (RuntimeError, ValueError, OSError) as failure:  # e.g. out of memory: next file
            yield FileResult(index, source, None, reported, failure_line(source, failure))


def caption_files(
    jobs: list[Job],
    loaded: LoadedModel,
    out_dir: Path,
    formats: tuple[str, ...] = ("srt",),
    options: SubtitleOptions | None = None,
    overwrite: bool = False,
    on_file_done: Callable[[Job, str | None, list], None] | None = None,
    batch: BatchOptions | None = None,
    on_seconds: Callable[[float], None] | None = None,
) -> RunSummary:
    """Subtitle every job whose outputs are missing (all of them with `overwrite`).
    on_file_done(job, error or None, unheard speech spans) is called after each file
    (skipped ones first);
    on_seconds(s) as media seconds are done. Outputs are written as files finish."""
    options = options or SubtitleOptions()
    batch = batch or BatchOptions()
    summary = RunSummary()
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)  # left by a run that was killed mid-write
    todo = jobs_to_do(jobs, out_dir, formats, overwrite, summary, on_file_done)
    sources = [job.source for job in todo]
    if options.vad and loaded.tokenizer.timestamps:
        results = subtitle_files(sources, loaded, options, batch, on_seconds)
    else:
        results = _one_by_one(sources, loaded, options, on_seconds)
    damage: dict[str, str] = {}  # file -> the first reader's note (it reads all the audio)
    # Damaged media are subtitled as far as they can be read, and said to be damaged.
    with decoding(on_damage=lambda path, note: damage.setdefault(path, note)):
        for result in results:
            job = todo[result.file]
            error = result.error
            if error is None:
                try:
                    details = file_details(result, damage.get(str(job.source)))
                    targets = output_paths(job, out_dir, formats)
                    for target, fmt in zip(targets, formats, strict=True):
                        write_subtitles(result.cues, target, fmt, details)
                    summary.done.append(job.source)
                    summary.routes[job.source] = (loaded.name, result.language)
                    if result.unheard:
                        summary.unheard.append((str(job.source), result.unheard))
                    if str(job.source) in damage:
                        line = f"{job.source}: {damage[str(job.source)]}"
                        summary.damaged.append((str(job.source), line))
                except OSError as failure:
                    error = f"{job.source}: cannot write subtitles: {failure}"
            if error:
                summary.failed.append((str(job.source), error))
            if on_file_done:
                on_file_done(job, error, [] if error else result.unheard)
    return summary


def write_failure_report(out_dir: Path, failed: list[tuple[str, str]]) -> Path:
    """`caption-failures.jsonl`, one {"file", "error"} per line, rewritten each run."""
    lines = [json.dumps({"file": file, "error": error}) for file, error in failed]
    return atomic_write_text(out_dir / FAILURES_FILE, "".join(line + "\n" for line in lines))
