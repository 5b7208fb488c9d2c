"""The metric keys: which apply to caption sets and which to subtitle files, what each is
called in a table, and the check of a list a user asks for. score.py, the web page, the
reports and the scorers all read these."""

from __future__ import annotations

from collections.abc import Iterable

BLEU_KEYS = ("bleu1", "bleu2", "bleu3", "bleu4")
CAPTION_METRICS = (*BLEU_KEYS, "meteor", "rougeL", "cider")
# Subtitle metrics over reference cues paired in time with the hypothesis words.
TIME_PAIRED_METRICS = (*BLEU_KEYS, "rougeL", "cider")
SUBTITLE_METRICS = ("wer", "cer", "suber", "t_bleu", "sacrebleu", *TIME_PAIRED_METRICS)
DEFAULT_SUBTITLE_METRICS = (
    "wer",
    "cer",
    "suber",
    "t_bleu",
    "sacrebleu",
    "bleu4",
    "rougeL",
    "cider",
)
ALL_METRICS = tuple(dict.fromkeys((*CAPTION_METRICS, *SUBTITLE_METRICS)))
LOWER_IS_BETTER = ("wer", "cer", "suber")

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


def chosen_metrics(
    requested: Iterable[str] | None, allowed: Iterable[str], default: Iterable[str], kind: str
) -> list[str]:
    """The metric keys asked for, once each and in order (`default` when None); a
    ValueError names an unknown key or one that is not a `kind` metric."""
    if requested is None:
        return list(default)
    requested, allowed = list(requested), list(allowed)
    unknown = [key for key in requested if key not in ALL_METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r} (choose from {' '.join(ALL_METRICS)})")
    unsupported = [key for key in requested if key not in allowed]
    if unsupported:
        raise ValueError(
            f"not a {kind} metric: {', '.join(unsupported)} (choose from {' '.join(allowed)})"
        )
    return list(dict.fromkeys(requested))
