"""The folder runner: find media under the inputs, subtitle each file, write outputs that
mirror the input tree. Existing outputs are kept (resume) unless overwrite is asked;
every output is written atomically; one bad file never stops the run."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.pipeline import SubtitleOptions, subtitle
from data.atomic import atomic_write_text, remove_stale_temporaries
from data.media import MEDIA_EXTENSIONS, MediaError
from data.subtitles import write_subtitles
from model.checkpoint import LoadedModel

OUTPUT_FORMATS = ("srt", "vtt", "json", "txt")
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


def output_paths(job: Job, out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    return [out_dir / job.relative.with_suffix(f".{fmt}") for fmt in formats]


def caption_files(
    jobs: list[Job],
    loaded: LoadedModel,
    out_dir: Path,
    formats: tuple[str, ...] = ("srt",),
    options: SubtitleOptions | None = None,
    overwrite: bool = False,
    on_file_done: Callable[[Job, str | None], None] | None = None,
) -> RunSummary:
    """Subtitle every job. on_file_done(job, error or None) is called after each file."""
    summary = RunSummary()
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)  # left by a run that was killed mid-write
    for job in jobs:
        targets = output_paths(job, out_dir, formats)
        if not overwrite and all(t.exists() for t in targets):
            summary.skipped.append(job.source)
            if on_file_done:
                on_file_done(job, None)
            continue
        error = None
        try:
            cues = subtitle(job.source, loaded, options)
            for target, fmt in zip(targets, formats, strict=True):
                write_subtitles(cues, target, fmt)
            summary.done.append(job.source)
        except MediaError as failure:
            error = str(failure)
        except (RuntimeError, ValueError, OSError) as failure:  # e.g. out of memory: next file
            error = f"{job.source}: {type(failure).__name__}: {' '.join(str(failure).split())}"
        if error:
            summary.failed.append((str(job.source), error))
        if on_file_done:
            on_file_done(job, error)
    return summary


def write_failure_report(out_dir: Path, failed: list[tuple[str, str]]) -> Path:
    """`caption-failures.jsonl`, one {"file", "error"} per line, rewritten each run."""
    lines = [json.dumps({"file": file, "error": error}) for file, error in failed]
    return atomic_write_text(out_dir / FAILURES_FILE, "".join(line + "\n" for line in lines))
