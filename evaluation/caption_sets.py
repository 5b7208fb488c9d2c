"""Caption sets in JSON: hypotheses (one caption per id) and references (several per id).

Accepted shapes, ids always compared as strings (COCO uses integer image ids):
- hypotheses: `{"id": "caption"}` or `[{"video_id" | "image_id": id, "caption": text}, ...]`
- references: `{"id": ["caption", ...]}`, the same list form with an id repeated once per
  caption, or MSR-VTT's annotation file (its `sentences` list of {"video_id", "caption"}).
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class CaptionSetError(ValueError):
    """A caption file that cannot be used; the message is one line naming the file."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{path}: {problem}")


def load_json(path: str | os.PathLike):
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as error:
        raise CaptionSetError(path, f"cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CaptionSetError(path, "not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise CaptionSetError(f"{path}:{error.lineno}", f"invalid JSON: {error.msg}") from None


def is_caption_set(data) -> bool:
    """Whether parsed JSON is a caption set rather than a subtitle file (a list of timed cues)."""
    if isinstance(data, dict):
        return not isinstance(data.get("cues"), list)  # {"cues": [...]}: avsub's subtitles
    return isinstance(data, list) and (
        not data or (isinstance(data[0], dict) and "caption" in data[0])
    )


def _rows(path, data) -> list[tuple[str, str]]:
    """(id, caption) pairs from the list form or MSR-VTT's `sentences`."""
    if isinstance(data, dict) and isinstance(data.get("sentences"), list):
        data = data["sentences"]
    if not isinstance(data, list):
        raise CaptionSetError(
            path, "expected an {id: caption(s)} object or a list of {id, caption}"
        )
    rows = []
    for index, row in enumerate(data):
        key = next(
            (k for k in ("video_id", "image_id", "id") if isinstance(row, dict) and k in row), None
        )
        if key is None or not isinstance(row.get("caption"), str):
            raise CaptionSetError(
                path, f'entry {index} lacks "video_id"/"image_id" and "caption": {row!r:.60}'
            )
        rows.append((str(row[key]), row["caption"]))
    return rows


def load_hypotheses(path: str | os.PathLike) -> dict[str, str]:
    data = load_json(path)
    if isinstance(data, dict) and "sentences" not in data:
        if not all(isinstance(caption, str) for caption in data.values()):
            raise CaptionSetError(path, "hypotheses must map each id to one caption string")
        return {str(key): caption for key, caption in data.items()}
    hypotheses: dict[str, str] = {}
    for video_id, caption in _rows(path, data):
        if video_id in hypotheses:
            raise CaptionSetError(path, f"id {video_id!r} has more than one hypothesis")
        hypotheses[video_id] = caption
    return hypotheses


def load_references(path: str | os.PathLike) -> dict[str, list[str]]:
    data = load_json(path)
    references: dict[str, list[str]] = {}
    if isinstance(data, dict) and "sentences" not in data:
        for key, captions in data.items():
            captions = [captions] if isinstance(captions, str) else captions
            if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
                raise CaptionSetError(
                    path, f"id {key!r}: references must be a list of caption strings"
                )
            references[str(key)] = list(captions)
        return references
    for video_id, caption in _rows(path, data):
        references.setdefault(video_id, []).append(caption)
    return references
