"""Score reports: a Markdown table for people, JSON and CSV for programs.

A report is a plain dict: {"corpus": {metric: figure}, "files": [{"hyp", "ref", metric:
figure}], "unmatched": [...], "settings": {...}}. A figure that could not be computed
(METEOR without Java, BLEU against an empty reference) is None: "-" in the table,
null in JSON, empty in CSV.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from data.atomic import atomic_write_text

METRIC_LABELS = {
    "bleu1": "BLEU-1",
    "bleu2": "BLEU-2",
    "bleu3": "BLEU-3",
    "bleu4": "BLEU-4",
    "meteor": "METEOR",
    "rougeL": "ROUGE-L",
    "cider": "CIDEr-D",
    "wer": "WER",
    "cer": "CER",
    "suber": "SubER",
    "t_bleu": "t-BLEU",
    "sacrebleu": "sacreBLEU",
}


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown_table(report: dict, metrics: list[str]) -> str:
    """One row per file pair (named by its hypothesis path), then the corpus row."""
    header = ["", *(METRIC_LABELS[key] for key in metrics)]
    rows = [[row["hyp"], *(_figure(row.get(key)) for key in metrics)] for row in report["files"]]
    rows.append(
        [f"**{report['corpus_label']}**", *(_figure(report["corpus"].get(key)) for key in metrics)]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if report["unmatched"]:
        lines.append("")
        lines.append(f"{len(report['unmatched'])} unmatched (not scored):")
        lines += [
            f"- only in {item['only_in']}: {item.get('path', item.get('id'))}"
            for item in report["unmatched"]
        ]
    return "\n".join(lines)


def report_json(report: dict) -> str:
    public = {key: report[key] for key in ("corpus", "files", "unmatched", "settings")}
    return json.dumps(public, indent=2, ensure_ascii=False) + "\n"


def report_csv(report: dict, metrics: list[str]) -> str:
    """Columns hyp, ref, metrics...; the last row is the corpus (hyp "corpus", ref empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["hyp", "ref", *metrics])
    for row in [*report["files"], {"hyp": "corpus", "ref": "", **report["corpus"]}]:
        writer.writerow(
            [row["hyp"], row["ref"], *("" if row.get(k) is None else row[k] for k in metrics)]
        )
    return out.getvalue()


def write_json(report: dict, path: str | os.PathLike) -> Path:
    return atomic_write_text(path, report_json(report))


def write_csv(report: dict, metrics: list[str], path: str | os.PathLike) -> Path:
    return atomic_write_text(path, report_csv(report, metrics))
