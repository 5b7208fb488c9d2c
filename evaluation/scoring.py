"""Score a hypothesis path against a reference path: two subtitle files, two folders of
them, or two caption sets in JSON. Returns a report dict (see `report.py`).

Everything a report's reader needs to reproduce a figure goes in its `settings`.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from data.language_rules import language_of_text
from data.subtitle_rules import LayoutOptions
from data.subtitles import SubtitleError, read_subtitles
from evaluation.caption_metrics import java_available, score_caption_sets, tokenizer_description
from evaluation.caption_sets import is_caption_set, load_hypotheses, load_json, load_references
from evaluation.file_pairing import AmbiguousPairError, pair_folders
from evaluation.metric_names import (
    CAPTION_METRICS,
    DEFAULT_SUBTITLE_METRICS,
    SUBTITLE_METRICS,
    TIME_PAIRED_METRICS,
    chosen_metrics,
)
from evaluation.shot_change_report import (
    MediaPairingError,
    media_files,
    shot_change_report,
    shot_change_settings,
)
from evaluation.subtitle_layout import SPEECH_TOLERANCE, layout_report, layout_settings
from evaluation.subtitle_metrics import TIME_PAIRING, sacrebleu_signature, score_subtitle_corpus
from evaluation.text_norm import normalisation_of

_PACKAGES = (
    "pycocoevalcap",
    "sacrebleu",
    "jiwer",
    "subtitle-edit-rate",
    "pysubs2",
    "whisper-normalizer",
)
_CIDER = (
    "CIDEr-D: pycocoevalcap Cider (n=4, sigma=6, clipped counts), IDF from the scored references"
)


class UsageError(ValueError):
    """The paths or options do not fit together (exit status 2)."""


def _versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in _PACKAGES}


def _kind(path: Path) -> str:
    """The kind of `path`: folder, captions or subtitles; SubtitleError if it is missing."""
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise SubtitleError(path, "no such file or folder")
    if path.suffix.lower() == ".json" and is_caption_set(load_json(path)):
        return "captions"
    return "subtitles"


def _chosen_metrics(
    requested: list[str] | None, allowed: tuple[str, ...], default: tuple[str, ...], kind: str
) -> list[str]:
    try:
        return chosen_metrics(requested, allowed, default, kind)
    except ValueError as error:
        raise UsageError(str(error)) from None


def needs_java(report: dict) -> bool:
    """Whether Java would have changed this report's figures (METEOR or the PTB tokenizer)."""
    metrics = report["settings"]["metrics"]
    return any(key in CAPTION_METRICS for key in metrics)


def score_paths(
    hyp: Path,
    ref: Path,
    metrics: list[str] | None = None,
    use_java: bool | None = None,
    layout: LayoutOptions | None = None,
    language: str | None = None,
    media: Path | None = None,
) -> dict:
    """The report of `hyp` against `ref`; raises UsageError, SubtitleError or CaptionSetError.
    Subtitle reports also hold the hypothesis' layout and timing against `layout`'s
    rules (default: LayoutOptions()), adapted to each file's language: `language`, or the
    one the reference's script shows (Chinese, Japanese, Korean; else English rules); with
    `media` (the file, or a folder mirroring `ref`'s) also the shot-change rules against the
    cuts in the picture."""
    hyp, ref = Path(hyp), Path(ref)
    kinds = (_kind(hyp), _kind(ref))
    if kinds[0] != kinds[1]:
        raise UsageError(f"cannot score a {kinds[0]} ({hyp}) against a {kinds[1]} ({ref})")
    if use_java is None:
        use_java = java_available()
    if kinds[0] == "captions":
        return _score_caption_files(hyp, ref, metrics, use_java)
    if kinds[0] == "folder":
        try:
            paths, unmatched = pair_folders(hyp, ref)
        except AmbiguousPairError as error:
            raise UsageError(str(error)) from None
        if not paths:
            raise UsageError(f"no subtitle file in {hyp} has a counterpart in {ref}")
    else:
        paths, unmatched = [(hyp, ref)], []
    media_paths = None
    if media is not None:
        keys = [
            r.relative_to(ref).with_suffix("").as_posix() if ref.is_dir() else r.stem
            for _, r in paths
        ]
        try:
            media_paths = media_files(Path(media), keys)
        except MediaPairingError as error:
            raise UsageError(str(error)) from None
    layout = layout or LayoutOptions()
    return _score_subtitle_files(paths, unmatched, metrics, use_java, layout, language, media_paths)


def _score_caption_files(hyp: Path, ref: Path, requested: list[str] | None, use_java: bool) -> dict:
    metrics = _chosen_metrics(requested, CAPTION_METRICS, CAPTION_METRICS, "caption")
    hyps, refs = load_hypotheses(hyp), load_references(ref)
    unmatched = [{"id": key, "only_in": "hyp"} for key in hyps if key not in refs]
    unmatched += [{"id": key, "only_in": "ref"} for key in refs if key not in hyps]
    scored = sum(1 for key in refs if key in hyps)
    if not scored:
        raise UsageError(f"no id in {hyp} appears in {ref}")
    corpus = score_caption_sets(hyps, refs, metrics, use_java=use_java)
    settings = {
        "mode": "caption sets",
        "hyp": str(hyp),
        "ref": str(ref),
        "metrics": metrics,
        "scale": "0-100 (fractions x100; CIDEr-D 0.538 is 53.8)",
        "ids_scored": scored,
        "references_per_id": sum(len(refs[key]) for key in refs if key in hyps) / scored,
        "tokenizer": tokenizer_description(use_java),
        "java": use_java,
        "meteor": "METEOR 1.5 via pycocoevalcap (-l en -norm)"
        if use_java
        else "skipped: Java not found",
        "cider": _CIDER,
        "versions": _versions(),
    }
    return {
        "corpus": corpus,
        "files": [],
        "unmatched": unmatched,
        "settings": settings,
        "corpus_label": f"corpus ({scored} id{'s' if scored != 1 else ''})",
    }


def _score_subtitle_files(
    paths: list[tuple[Path, Path]],
    unmatched: list[dict],
    requested: list[str] | None,
    use_java: bool,
    layout: LayoutOptions,
    language: str | None = None,
    media: list[Path] | None = None,
) -> dict:
    metrics = _chosen_metrics(requested, SUBTITLE_METRICS, DEFAULT_SUBTITLE_METRICS, "subtitle")
    cue_pairs = [(read_subtitles(hyp), read_subtitles(ref)) for hyp, ref in paths]
    languages = [
        language or language_of_text(" ".join(cue.text for cue in ref)) for _, ref in cue_pairs
    ]
    per_file, corpus = score_subtitle_corpus(cue_pairs, metrics, use_java, languages)
    files = [
        {"hyp": str(hyp), "ref": str(ref), "language": lang or "en", **figures}
        for (hyp, ref), figures, lang in zip(paths, per_file, languages, strict=True)
    ]
    layout_files, layout_corpus = layout_report(cue_pairs, layout, SPEECH_TOLERANCE, languages)
    if media is not None:
        shot_files, shot_corpus = shot_change_report(cue_pairs, media, layout)
        for figures, shots in zip(layout_files, shot_files, strict=True):
            figures.update(shots)
        layout_corpus.update(shot_corpus)
    settings = {
        "mode": "subtitle files",
        "metrics": metrics,
        "scale": "0-100 (fractions x100; CIDEr-D 0.538 is 53.8)",
        "files_scored": len(paths),
        "wer_cer_normalisation": " | ".join(
            f"{lang or 'en'}: {normalisation_of(lang)}"
            if len(set(languages)) > 1
            else normalisation_of(lang)
            for lang in dict.fromkeys(languages)
        ),  # fmt: skip
        "languages": "from --language"
        if language
        else "detected from each reference's "
        "script (Chinese, Japanese, Korean; otherwise English rules)",
        "cer_only_languages": "zh, yue, ja, ko: WER needs spaces between words, so only CER",
        "wer_cer_text": "whole file, cues in start-time order; corpus figures pool the error counts",
        "suber": "SubER of subtitle-edit-rate (case- and punctuation-insensitive, time-overlap condition)",
        "t_bleu": "t-BLEU of subtitle-edit-rate (sacrebleu BLEU after re-cutting the hypothesis at reference cue times)",
        "sacrebleu_signature": sacrebleu_signature(),
        "sacrebleu_segments": "one segment per file: its whole text, cues in start-time order",
        "time_pairing": TIME_PAIRING,
        "time_paired_metrics": [key for key in metrics if key in TIME_PAIRED_METRICS],
        "tokenizer": tokenizer_description(use_java),
        "java": use_java,
        "cider": _CIDER,
        "versions": _versions(),
        "layout": layout_settings(layout, SPEECH_TOLERANCE),
    }
    if media is not None:
        settings["layout"]["shot_changes"] = shot_change_settings(layout)
    return {
        "corpus": corpus,
        "files": files,
        "unmatched": unmatched,
        "settings": settings,
        "corpus_label": f"corpus ({len(paths)} file{'s' if len(paths) != 1 else ''})",
        "layout": {
            "corpus": layout_corpus,
            "files": [
                {"hyp": row["hyp"], "ref": row["ref"], **figures}
                for row, figures in zip(files, layout_files, strict=True)
            ],
        },
    }
