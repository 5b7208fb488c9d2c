"""Training examples from caption sets and subtitled videos, and their decoded clips.

Readers, each -> list[Example] (one caption over one time span of one media file):

- a folder of videos with sidecar subtitles (`talk.mp4` + `talk.srt` or `talk.vtt`):
  each cue is one example, its span the cue's times;
- caption JSON: MSR-VTT (`{"videos": [...], "sentences": [{"video_id", "caption"}]}`),
  VATEX (`[{"videoID", "enCap": [...]}]`) or a plain `{"file.mp4": "caption" or [...]}`
  (the synthetic set's `captions.json`); clips are files named by their id;
- a JSONL manifest, one `{"video", "start", "end", "text"}` per line (relative paths
  are relative to the manifest).

`read_dataset(path)` picks the reader. `load_clips` decodes the examples' audio (log-mel)
and frames; media that are missing or corrupt are reported and skipped, never fatal.
"""

from __future__ import annotations

import contextvars
import json
import os
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from data.media import MEDIA_EXTENSIONS, SAMPLE_RATE, MediaError, MediaReader
from data.subtitles import SubtitleError, read_subtitles

SUBTITLE_SUFFIXES = (".srt", ".vtt")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


@dataclass(frozen=True)
class Example:
    video: Path
    start: float  # seconds
    end: float | None  # seconds; None: to the end of the file (or the model's span)
    text: str
    key: str  # examples with the same key share references (several captions per clip)


@dataclass
class Clip:
    """One decoded example: what the model sees and the caption it should write."""

    mel: torch.Tensor  # (n_mels, audio_frames) log-mel from the caller's mel_fn
    frames: torch.Tensor  # (F, S, S, 3) uint8
    times: torch.Tensor  # (F,) seconds from the clip start
    text: str
    key: str


@dataclass
class LoadReport:
    loaded: int = 0
    skipped: list[str] = field(default_factory=list)  # one line per skipped example/file

    def summary(self) -> str:
        return f"{self.loaded} examples loaded, {len(self.skipped)} skipped"


def read_subtitle_folder(root: str | Path) -> tuple[list[Example], list[str]]:
    """Videos under root with a sidecar .srt/.vtt of the same stem: one example per cue.
    Returns the examples and problems (unreadable subtitle files)."""
    examples, problems = [], []
    for media in sorted(Path(root).rglob("*")):
        if media.suffix.lower() not in MEDIA_EXTENSIONS or not media.is_file():
            continue
        sidecars = [
            media.with_suffix(s) for s in SUBTITLE_SUFFIXES if media.with_suffix(s).exists()
        ]
        if not sidecars:
            continue
        try:
            cues = read_subtitles(sidecars[0])
        except (SubtitleError, OSError) as error:
            problems.append(str(error))
            continue
        for i, cue in enumerate(cues):
            text = " ".join(cue.text.split())
            if text and cue.end > cue.start:
                key = f"{media.relative_to(root)}#{i}"
                examples.append(Example(media, cue.start, cue.end, text, key))
    return examples, problems


def _find_clip(root: Path, video_id: str) -> Path:
    if (root / video_id).suffix.lower() in MEDIA_EXTENSIONS:
        return root / video_id
    for suffix in VIDEO_SUFFIXES:
        if (root / f"{video_id}{suffix}").exists():
            return root / f"{video_id}{suffix}"
    return root / f"{video_id}.mp4"  # missing: reported when loaded


def read_caption_json(path: str | Path, video_root: str | Path | None = None) -> list[Example]:
    """MSR-VTT, VATEX or {"file": caption(s)} JSON; clip files are looked up in video_root
    (default: the JSON's folder, or its `videos/` subfolder when that exists)."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if video_root is None:
        video_root = path.parent / "videos" if (path.parent / "videos").is_dir() else path.parent
    root = Path(video_root)
    captions: dict[str, list[str]] = defaultdict(list)
    if isinstance(data, dict) and "sentences" in data:  # MSR-VTT
        for sentence in data["sentences"]:
            captions[sentence["video_id"]].append(sentence["caption"])
    elif isinstance(data, list):  # VATEX
        for item in data:
            captions[item["videoID"]].extend(item.get("enCap", []))
    elif isinstance(data, dict):
        for video_id, value in data.items():
            captions[video_id].extend([value] if isinstance(value, str) else value)
    else:
        raise ValueError(f"{path}: not an MSR-VTT, VATEX or {{id: caption}} JSON")
    return [
        Example(_find_clip(root, video_id), 0.0, None, " ".join(text.split()), video_id)
        for video_id, texts in captions.items()
        for text in texts
        if text.strip()
    ]


def read_manifest(path: str | Path) -> list[Example]:
    """JSONL lines {"video", "start", "end", "text"}; bad lines raise ValueError with the line."""
    path = Path(path)
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            video = Path(item["video"])
            start = float(item.get("start", 0.0))
            end = None if item.get("end") is None else float(item["end"])
            text = " ".join(str(item["text"]).split())
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: bad manifest line ({error})") from error
        video = video if video.is_absolute() else path.parent / video
        examples.append(Example(video, start, end, text, f"{item['video']}@{start:.3f}"))
    return examples


def read_dataset(path: str | Path) -> tuple[list[Example], list[str]]:
    """Examples of a caption JSON, a JSONL manifest, a folder with captions.json, or a
    folder of subtitled videos; and the problems met while reading (not fatal)."""
    path = Path(path)
    if path.is_dir() and (path / "captions.json").exists():
        return read_caption_json(path / "captions.json"), []
    if path.is_dir():
        return read_subtitle_folder(path)
    if path.suffix == ".jsonl":
        return read_manifest(path), []
    if path.suffix == ".json":
        return read_caption_json(path), []
    raise ValueError(f"{path}: not a folder, caption .json or .jsonl manifest")


def load_clips(
    examples: list[Example],
    seconds: float,
    fps: float,
    frame_size: int,
    mel_fn: Callable[[np.ndarray], torch.Tensor],
    log: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> tuple[list[Clip], LoadReport]:
    """Decode each example's first `seconds` (at most its span): audio at 16 kHz turned
    into the model's input by mel_fn (the caller's front end: data never imports model),
    and frames at fps. Files are decoded `workers` at a time (threads; default one per
    core: FFmpeg and PyTorch work outside Python's lock). A file that is missing or cannot
    be decoded is reported (and logged) and its examples skipped."""
    by_video: dict[Path, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        by_video[example.video].append(i)

    def decode_file(video: Path, indices: list[int]) -> dict[int, Clip] | str:
        """One file's examples -> {example index: Clip}, or the line saying why not."""
        indices = sorted(indices, key=lambda i: examples[i].start)  # the reader goes forward
        clips: dict[int, Clip] = {}
        try:
            with MediaReader(video, SAMPLE_RATE, fps=fps, frame_size=frame_size) as reader:
                for i in indices:
                    example = examples[i]
                    end = example.start + seconds
                    if example.end is not None:
                        end = min(end, example.end)
                    audio = reader.audio(example.start, end)
                    pixels, stamps = reader.frames(example.start, end)
                    clips[i] = Clip(
                        mel=mel_fn(audio),  # (n_mels, audio_frames)
                        frames=torch.from_numpy(np.ascontiguousarray(pixels)),
                        times=torch.from_numpy(stamps - example.start).float(),
                        text=example.text,
                        key=example.key,
                    )
        except (MediaError, OSError, ValueError) as error:  # a file failing part-way: all out
            return f"skipped {len(indices)} example(s): {' '.join(str(error).split())}"
        return clips

    workers = workers or os.cpu_count() or 1
    clips: dict[int, Clip] = {}
    report = LoadReport()
    with ThreadPoolExecutor(workers) as pool:
        # Each file in a copy of the caller's context: MediaReader reads its rules there.
        jobs = [pool.submit(contextvars.copy_context().run, decode_file, video, indices)
                for video, indices in by_video.items()]  # fmt: skip
        for job in jobs:
            result = job.result()
            if isinstance(result, str):
                report.skipped.append(result)
                if log is not None:
                    log(result)
            else:
                clips.update(result)
    report.loaded = len(clips)
    return [clips[i] for i in sorted(clips)], report
