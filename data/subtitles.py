"""Subtitle files: read SRT / VTT / JSON into `Cue`s, write SRT / VTT / JSON / TXT.

pysubs2 does the timestamp and tag work. It is lenient: a broken timing line or a cue
number without a timing line silently becomes text of the previous cue. So reading
first walks the file block by block (blocks are separated by blank lines) and raises a
`SubtitleError` naming the file and line of the first thing that is not a cue; only
the checked blocks are then handed to pysubs2.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import pysubs2

from data.atomic import atomic_write_text

FORMATS = ("srt", "vtt", "json", "txt")
READABLE_FORMATS = ("srt", "vtt", "json")

# Strict on purpose: a line containing "-->" that these do not match is reported, not guessed at.
_SRT_TIME = r"\d{1,2}:\d{1,2}:\d{1,2}[,.]\d{1,3}"
_VTT_TIME = r"(?:\d{1,4}:)?\d{2}:\d{2}\.\d{3}"
_SRT_TIMING = re.compile(rf"^\s*({_SRT_TIME})\s*-->\s*({_SRT_TIME})(?:\s+.*)?$")
_VTT_TIMING = re.compile(rf"^\s*({_VTT_TIME})\s+-->\s+({_VTT_TIME})(?:\s+.*)?$")
_VTT_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION")
# VTT karaoke timestamps like <00:00:01.500> start with a digit, which pysubs2 keeps.
_VTT_INLINE_TIMESTAMP = re.compile(r"<\d[^>]*>")


@dataclass(frozen=True)
class Cue:
    """One subtitle: times in seconds; `text` may hold "\\n" between its lines."""

    start: float
    end: float
    text: str
    screen_terms: tuple[str, ...] = ()  # on-screen terms its words were decoded with


@dataclass(frozen=True)
class Word:
    """One spoken word and where it is heard, in seconds; `text` has no surrounding spaces
    (punctuation stays attached: "Hello,")."""

    start: float
    end: float
    text: str
    probability: float | None = None  # mean probability of its tokens; None: not computed


class SubtitleError(ValueError):
    """A subtitle file that cannot be read; the message is one line naming file and line."""

    def __init__(self, path: str | os.PathLike, problem: str, line: int | None = None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.problem = problem


def subtitle_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The format named by `fmt`, else by the file extension."""
    chosen = (fmt or Path(path).suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise SubtitleError(
            path, f"unknown subtitle format {chosen!r} (expected one of {', '.join(FORMATS)})"
        )
    return chosen


# ---------------------------------------------------------------------------- writing


def _as_ssafile(cues: list[Cue]) -> pysubs2.SSAFile:
    subs = pysubs2.SSAFile()
    for cue in cues:
        event = pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000))
        event.plaintext = cue.text
        subs.append(event)
    return subs


def _json_row(cue: Cue) -> dict:
    row = {"start": cue.start, "end": cue.end, "text": cue.text}
    if cue.screen_terms:
        row["screen_terms"] = list(cue.screen_terms)
    return row


def format_subtitles(cues: list[Cue], fmt: str, details: dict | None = None) -> str:
    """The text of a subtitle file in `fmt` ("srt", "vtt", "json" or "txt"). JSON is
    {"cues": [{"start", "end", "text"[, "screen_terms"]}...], **details}: what the run found about the file
    (details are JSON-ready values) travels with its cues."""
    fmt = fmt.lower()
    if fmt in ("srt", "vtt"):
        return _as_ssafile(cues).to_string(fmt)
    if fmt == "json":
        rows = [_json_row(cue) for cue in cues]
        return json.dumps({"cues": rows, **(details or {})}, ensure_ascii=False, indent=1) + "\n"
    if fmt == "txt":
        return "".join(" ".join(cue.text.split()) + "\n" for cue in cues)
    raise ValueError(f"unknown subtitle format {fmt!r} (expected one of {', '.join(FORMATS)})")


def write_subtitles(
    cues: list[Cue], path: str | os.PathLike, fmt: str | None = None, details: dict | None = None
) -> Path:
    """Write `cues` to `path` atomically; the format comes from `fmt` or the extension;
    `details` go into JSON only."""
    return atomic_write_text(path, format_subtitles(cues, subtitle_format(path, fmt), details))


# ---------------------------------------------------------------------------- reading


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        raise SubtitleError(path, "text encoding not recognised (not UTF-8; save it as UTF-8)")
    # On a few lines of accented Latin text several code pages look equally clean and the
    # detector's pick among them is arbitrary (cp1250 gives "naďve" for "naïve"). cp1252 is
    # the usual legacy subtitle encoding, so it wins whenever it is about as plausible.
    for match in matches:
        if match.encoding == "cp1252" and match.chaos <= best.chaos + 0.1:
            best = match
            break
    return str(best).lstrip("\ufeff")


def _blocks(lines: list[str], first_line: int = 1) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines, each with the 1-based number of its first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, line in enumerate(lines, first_line):
        if line.strip():
            if not current:
                start = number
            current.append(line.rstrip())
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _check_times(path: Path, line: int, timing: re.Match, to_ms) -> None:
    start, end = (to_ms(stamp) for stamp in timing.groups())
    if end < start:
        raise SubtitleError(path, f"cue ends before it starts: {timing.string.strip()!r}", line)


def _srt_ms(stamp: str) -> int:
    h, m, s, ms = re.split(r"[:,.]", stamp)
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms.ljust(3, "0"))


def _vtt_ms(stamp: str) -> int:
    parts = stamp.replace(".", ":").split(":")
    h, m, s, ms = ([0] * (4 - len(parts)) + parts)[-4:]
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)


def _checked_srt(path: Path, lines: list[str]) -> list[tuple[str, list[str]]]:
    """(timing line, text lines) per cue; raises on the first block that is not a cue."""
    cues: list[tuple[str, list[str]]] = []
    for start, block in _blocks(lines):
        head = 0
        if block[0].strip().isdigit():
            if len(block) == 1 or "-->" not in block[1]:
                raise SubtitleError(
                    path, f"cue number {block[0].strip()} has no timing line", start
                )
            head = 1
        timing_line = block[head]
        if "-->" not in timing_line:
            if cues:
                # Real files have blank lines inside a cue; the text after one still belongs to it.
                cues[-1][1].extend(block)
                continue
            raise SubtitleError(
                path, f"expected a cue number or timing line, found {timing_line.strip()!r}", start
            )
        timing = _SRT_TIMING.match(timing_line)
        if timing is None:
            raise SubtitleError(
                path, f"timing line does not parse: {timing_line.strip()!r}", start + head
            )
        _check_times(path, start + head, timing, _srt_ms)
        cues.append((f"{timing.group(1)} --> {timing.group(2)}", block[head + 1 :]))
    return cues


def _checked_vtt(path: Path, lines: list[str]) -> list[tuple[str, list[str]]]:
    if not lines or not re.match(r"WEBVTT(\s|$)", lines[0]):
        raise SubtitleError(path, "a WebVTT file must start with 'WEBVTT'", 1)
    cues: list[tuple[str, list[str]]] = []
    # The first block is the header (WEBVTT plus optional metadata lines), not a cue.
    for start, block in _blocks(lines)[1:]:
        if block[0].split(" ", 1)[0] in _VTT_SKIPPED_BLOCKS:
            continue
        head = 0 if "-->" in block[0] else 1  # an optional cue identifier comes first
        if head == 1 and (len(block) == 1 or "-->" not in block[1]):
            raise SubtitleError(path, f"cue {block[0].strip()!r} has no timing line", start)
        timing = _VTT_TIMING.match(block[head])
        if timing is None:
            raise SubtitleError(
                path, f"timing line does not parse: {block[head].strip()!r}", start + head
            )
        _check_times(path, start + head, timing, _vtt_ms)
        text = [html.unescape(_VTT_INLINE_TIMESTAMP.sub("", line)) for line in block[head + 1 :]]
        cues.append((f"{timing.group(1)} --> {timing.group(2)}", text))
    return cues


def _parse_timed_text(path: Path, text: str, fmt: str) -> list[Cue]:
    lines = text.splitlines()
    checked = _checked_srt(path, lines) if fmt == "srt" else _checked_vtt(path, lines)
    if not checked:
        return []
    # Rebuilt from checked blocks only, so pysubs2 sees exactly one timing line per cue.
    clean = "".join(f"{timing}\n{chr(10).join(body)}\n\n" for timing, body in checked)
    if fmt == "vtt":
        clean = "WEBVTT\n\n" + clean
    events = pysubs2.SSAFile.from_string(clean, format_=fmt).events
    if len(events) != len(checked):
        raise SubtitleError(
            path, f"pysubs2 read {len(events)} cues where {len(checked)} were expected"
        )
    return [Cue(e.start / 1000, e.end / 1000, e.plaintext.strip()) for e in events]


def _parse_json(path: Path, text: str) -> list[Cue]:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as error:
        raise SubtitleError(path, f"invalid JSON: {error.msg}", error.lineno) from None
    if isinstance(rows, dict) and "cues" in rows:  # avsub's own JSON: cues and details
        rows = rows["cues"]
    if not isinstance(rows, list):
        raise SubtitleError(path, 'expected a JSON list of {"start", "end", "text"}')
    cues = []
    for index, row in enumerate(rows):
        try:
            cue = Cue(float(row["start"]), float(row["end"]), str(row["text"]))
        except (TypeError, KeyError, ValueError):
            raise SubtitleError(
                path, f'cue {index} is not {{"start", "end", "text"}}: {row!r:.60}'
            ) from None
        if cue.end < cue.start:
            raise SubtitleError(path, f"cue {index} ends before it starts")
        cues.append(cue)
    return cues


def _sniff_format(path: Path, text: str) -> str:
    suffix = path.suffix.lstrip(".").lower()
    if suffix in READABLE_FORMATS:
        return suffix
    head = text.lstrip()
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith(("[", "{")):
        return "json"
    if "-->" in head:
        return "srt"
    raise SubtitleError(path, "not a subtitle file (expected SRT, VTT or JSON)")


def read_subtitles(path: str | os.PathLike) -> list[Cue]:
    """Cues of an SRT, VTT or JSON file, in file order. An empty file has no cues.

    Raises `SubtitleError` (one line: file, line, problem) for unreadable or malformed files.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SubtitleError(path, f"cannot read: {error.strerror or error}") from None
    text = _decode(path, data)
    if not text.strip():
        return []
    fmt = _sniff_format(path, text)
    if fmt == "json":
        return _parse_json(path, text)
    return _parse_timed_text(path, text, fmt)
