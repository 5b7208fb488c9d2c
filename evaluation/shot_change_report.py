"""How hypothesis cues keep the shot-change rules of data/shot_change_rules.py, given the
media they subtitle: cues that cross a cut while no reference speech runs across it, and
cue edges within the snap window of a cut but not on it (in-time on the cut, out-time the
cue gap before it). The cuts are found in the media by data/shot_changes.py; the speech is
the reference cues' time, as in the rest of the layout report.
"""

from __future__ import annotations

from pathlib import Path

from data.media import MEDIA_EXTENSIONS
from data.shot_change_rules import (
    cut_gap,
    cuts_crossed,
    in_time_off_cut,
    out_time_off_cut,
    snap_window,
)
from data.shot_changes import ShotChanges, detect_shot_changes
from data.subtitle_rules import LayoutOptions
from data.subtitles import Cue

# Counts, except the share of cues that keep both rules.
SHOT_FIGURES = ("cuts", "cues_crossing_cut", "cue_edges_off_cut", "rule_shot_changes")


class MediaPairingError(ValueError):
    """--media names no file for a scored pair, or a file for several pairs."""


def shot_counts(
    hyp: list[Cue], ref: list[Cue], shots: ShotChanges | None, options: LayoutOptions
) -> dict[str, int]:
    """{"cuts", "cues_crossing_cut", "cue_edges_off_cut", "cues", "cues_keeping"}: counts
    that add up over files. No video: no cuts, every cue keeps the rules."""
    cuts = list(shots.times) if shots is not None else []
    counts = {"cuts": len(cuts), "cues_crossing_cut": 0, "cue_edges_off_cut": 0}
    counts |= {"cues": len(hyp), "cues_keeping": len(hyp)}
    if not cuts:
        return counts
    fps = shots.fps
    window = snap_window(options.shot_change_window, fps)
    gap = cut_gap(options.min_gap, fps)
    speech = sorted((cue.start, cue.end) for cue in ref)
    for cue in hyp:
        crossed = bool(cuts_crossed(cue.start, cue.end, cuts, speech, gap, fps))
        edges = (in_time_off_cut(cue.start, cuts, window, fps) is not None) + (
            out_time_off_cut(cue.end, cuts, window, gap, fps) is not None
        )
        counts["cues_crossing_cut"] += crossed
        counts["cue_edges_off_cut"] += edges
        counts["cues_keeping"] -= bool(crossed or edges)
    return counts


def shot_figures(counts: dict[str, int]) -> dict[str, float | int | None]:
    """`shot_counts` (of one file or summed) -> the report's SHOT_FIGURES."""
    cues = counts["cues"]
    share = 100 * counts["cues_keeping"] / cues if cues else None
    return {**{key: counts[key] for key in SHOT_FIGURES[:3]}, "rule_shot_changes": share}


def media_files(media: Path, keys: list[str]) -> list[Path]:
    """The media file for each scored pair: `media` itself for a single pair, else the file
    under the folder `media` whose relative path without extension is the pair's key."""
    media = Path(media)
    if media.is_file():
        if len(keys) != 1:
            raise MediaPairingError(f"--media {media} is one file for {len(keys)} scored files")
        return [media]
    if not media.is_dir():
        raise MediaPairingError(f"--media {media}: no such file or folder")
    found = {
        path.relative_to(media).with_suffix("").as_posix(): path
        for path in sorted(media.rglob("*"))
        if path.is_file() and path.suffix.lower() in MEDIA_EXTENSIONS
    }
    missing = [key for key in keys if key not in found]
    if missing:
        raise MediaPairingError(f"--media {media}: no media file for {', '.join(missing[:3])}")
    return [found[key] for key in keys]


def shot_change_report(
    cue_pairs: list[tuple[list[Cue], list[Cue]]], media: list[Path], options: LayoutOptions
) -> tuple[list[dict], dict]:
    """Per (hypothesis, reference) pair and pooled: SHOT_FIGURES against each pair's media."""
    per_file, totals = [], None
    for (hyp, ref), path in zip(cue_pairs, media, strict=True):
        counts = shot_counts(hyp, ref, detect_shot_changes(path), options)
        per_file.append(shot_figures(counts))
        totals = counts if totals is None else {k: totals[k] + counts[k] for k in counts}
    return per_file, shot_figures(totals) if totals else {}


def shot_change_settings(options: LayoutOptions) -> dict:
    return {
        "window": f"{options.shot_change_window:g} s in whole frames of each video "
        "(12 at 24 and 25 fps, 15 at 29.97)",
        "out_time_gap": f"min_gap {options.min_gap:g} s rounded up to whole frames",
        "rules": "a cue crossing a cut while no reference cue runs across it (one ending "
        "within the gap before the cut counts as running across); an in-time within the "
        "window of a cut and more than half a frame off it; an out-time within the window "
        "and more than half a frame off the gap before it",
    }
