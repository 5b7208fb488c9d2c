"""Pair hypothesis and reference subtitle files of two folder trees by relative path.

`news/day1.srt` on one side pairs with `news/day1.vtt` on the other: the extension is
not part of the key. A file present on one side only is returned as unmatched, so the
report can list and count it instead of silently dropping it.
"""

from __future__ import annotations

from pathlib import Path

from data.subtitles import READABLE_FORMATS

SUBTITLE_SUFFIXES = tuple(f".{fmt}" for fmt in READABLE_FORMATS)


class AmbiguousPairError(ValueError):
    """Two files in one folder tree differ only by extension (which one is meant?)."""


def subtitle_files(folder: Path) -> dict[str, Path]:
    """Subtitle files under `folder` keyed by relative path without extension."""
    files: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        hidden = any(part.startswith(".") for part in relative.parts)
        if hidden or not path.is_file() or path.suffix.lower() not in SUBTITLE_SUFFIXES:
            continue
        key = relative.with_suffix("").as_posix()
        if key in files:
            raise AmbiguousPairError(
                f"{files[key]} and {path} have the same name; keep one of them"
            )
        files[key] = path
    return files


def pair_folders(
    hyp_dir: Path, ref_dir: Path
) -> tuple[list[tuple[Path, Path]], list[dict[str, str]]]:
    """([(hypothesis, reference)], [{"path", "only_in"}]) in sorted key order."""
    hyps, refs = subtitle_files(hyp_dir), subtitle_files(ref_dir)
    pairs = [(hyps[key], refs[key]) for key in sorted(hyps.keys() & refs.keys())]
    unmatched = [
        {"path": str(hyps[key]), "only_in": "hyp"} for key in sorted(hyps.keys() - refs.keys())
    ]
    unmatched += [
        {"path": str(refs[key]), "only_in": "ref"} for key in sorted(refs.keys() - hyps.keys())
    ]
    return pairs, unmatched
