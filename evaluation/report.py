"""Score reports: a Markdown table for people, JSON and CSV for programs.

A report is a plain dict: {"corpus": {metric: figure}, "files": [{"hyp", "ref", metric:
figure}], "unmatched": [...], "settings": {...}}; subtitle reports also hold "layout":
{"corpus": {figure: value}, "files": [{"hyp", "ref", figure: value}]} (see
evaluation/subtitle_layout.py), a second table in Markdown and more columns in CSV.
A figure that could not be computed (METEOR without Java, BLEU against an empty
reference, layout of no cues) is None: "-" in the table, null in JSON, empty in CSV.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from data.atomic import atomic_write_text
from evaluation.metric_names import METRIC_LABELS
from evaluation.shot_change_report import SHOT_FIGURES
from evaluation.subtitle_layout import COUNT_FIGURES, LAYOUT_FIGURES, TIMING_FIGURES

LAYOUT_COLUMNS = (*COUNT_FIGURES, "rule_all", *LAYOUT_FIGURES[:-1], *TIMING_FIGURES)
LAYOUT_LABELS = {
    "cues": "cues",
    "cues_off_speech": "cues off speech",
    "rule_all": "all rules %",
    "rule_line_width": "line width %",
    "rule_line_count": "lines %",
    "rule_min_duration": "min duration %",
    "rule_max_duration": "max duration %",
    "rule_cps": "chars/s %",
    "rule_gap": "gap %",
    "rule_marks": "marks %",
    "hyp_time_near_speech": "time near speech %",
    "ref_speech_covered": "speech covered %",
    "cuts": "cuts",
    "cues_crossing_cut": "cues crossing a cut",
    "cue_edges_off_cut": "edges near a cut, off it",
    "rule_shot_changes": "shot-change rules %",
}


def _layout_columns(report: dict) -> list[str]:
    """The layout columns, with the shot-change ones when the media were given."""
    shots = "shot_changes" in report["settings"]["layout"]
    return [*LAYOUT_COLUMNS, *(SHOT_FIGURES if shots else ())]


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _table(report: dict, section: dict, keys: list[str], labels: dict, show) -> list[str]:
    header = ["", *(labels[key] for key in keys)]
    rows = [
        [_file_label(report, index, row), *(show(key, row.get(key)) for key in keys)]
        for index, row in enumerate(section["files"])
    ]
    rows.append(
        [f"**{report['corpus_label']}**", *(show(key, section["corpus"].get(key)) for key in keys)]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _file_label(report: dict, index: int, row: dict) -> str:
    """The hypothesis path, with its language where that is not English (whose rules
    are the default)."""
    language = report["files"][index].get("language") if report["files"] else None
    return f"{row['hyp']} ({language})" if language not in (None, "en") else row["hyp"]


def _layout_figure(key: str, value: float | None) -> str:
    counted = key in COUNT_FIGURES or (key in SHOT_FIGURES and key != "rule_shot_changes")
    return _count(value) if counted else _figure(value)


def markdown_table(report: dict, metrics: list[str]) -> str:
    """One row per file pair (named by its hypothesis path), then the corpus row; for
    subtitles, then the same rows for the hypothesis' layout and timing."""
    lines = _table(report, report, metrics, METRIC_LABELS, lambda key, value: _figure(value))
    if "layout" in report:
        tolerance = report["settings"]["layout"]["tolerance"]
        lines += [
            "",
            f"Layout and timing of the hypothesis: % of cues within each rule; % of time "
            f"within {tolerance:g} s of reference speech, % of reference speech covered.",
            "",
            *_table(
                report, report["layout"], _layout_columns(report), LAYOUT_LABELS, _layout_figure
            ),
        ]
    if report["unmatched"]:
        lines.append("")
        lines.append(f"{len(report['unmatched'])} unmatched (not scored):")
        lines += [
            f"- only in {item['only_in']}: {item.get('path', item.get('id'))}"
            for item in report["unmatched"]
        ]
    return "\n".join(lines)


def report_json(report: dict) -> str:
    keys = ("corpus", "files", "unmatched", "settings", "layout")
    public = {key: report[key] for key in keys if key in report}
    return json.dumps(public, indent=2, ensure_ascii=False) + "\n"


def report_csv(report: dict, metrics: list[str]) -> str:
    """Columns hyp, ref, metrics... (and for subtitles the layout figures); the last row
    is the corpus (hyp "corpus", ref empty)."""
    rows = [*report["files"], {"hyp": "corpus", "ref": "", **report["corpus"]}]
    columns = list(metrics)
    if "layout" in report:
        columns += _layout_columns(report)
        layout_rows = [*report["layout"]["files"], report["layout"]["corpus"]]
        rows = [{**row, **layout} for row, layout in zip(rows, layout_rows, strict=True)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["hyp", "ref", *columns])
    for row in rows:
        writer.writerow(
            [row["hyp"], row["ref"], *("" if row.get(k) is None else row[k] for k in columns)]
        )
    return out.getvalue()


def write_json(report: dict, path: str | os.PathLike) -> Path:
    return atomic_write_text(path, report_json(report))


def write_csv(report: dict, metrics: list[str], path: str | os.PathLike) -> Path:
    return atomic_write_text(path, report_csv(report, metrics))
