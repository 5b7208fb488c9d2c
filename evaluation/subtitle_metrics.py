"""Metrics of a hypothesis subtitle file against a reference subtitle file, 0-100.

- wer, cer: jiwer over the whole file's text (cues in time order), normalised by the
  rules of the file's language (`text_norm.normalisation_of`). Chinese, Japanese and
  Korean get CER only (WER needs spaces between words; their WER is None). Lower is better.
- suber: SubER (subtitle-edit-rate), edits of words and line/cue breaks, with the
  time-overlap condition that makes it timing-aware. Lower is better.
- t_bleu: subtitle-edit-rate's t-BLEU: sacrebleu BLEU after re-cutting the hypothesis
  along the reference cue timing.
- sacrebleu: sacrebleu corpus BLEU (default settings, signature in `settings`) with each
  file's whole text as one segment, so it ignores timing like WER does.
- bleu1..4, rougeL, cider: pycocoevalcap on reference cues, each paired with the
  hypothesis words inside it in time (`time_pairing`).

Corpus figures pool the files: error counts are summed (not file scores averaged), the
SubER and t-BLEU inputs are the files laid end to end on one time axis (as the `suber`
tool does for several files), and CIDEr-D's IDF comes from all reference cues.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jiwer
from sacrebleu.metrics import BLEU
from suber.data_types import LineBreak, Subtitle, TimedWord
from suber.hyp_to_ref_alignment import time_align_hypothesis_to_reference
from suber.metrics.sacrebleu_interface import calculate_sacrebleu_metric
from suber.metrics.suber import calculate_SubER
from suber.utilities import set_approximate_word_times

from data.language_rules import CHARACTER_ERROR_LANGUAGES
from data.subtitles import Cue
from evaluation.caption_metrics import coco_scores, java_available, tokenize
from evaluation.metric_names import (
    DEFAULT_SUBTITLE_METRICS,
    SUBTITLE_METRICS,
    TIME_PAIRED_METRICS,
    chosen_metrics,
)
from evaluation.text_norm import normalise
from evaluation.time_pairing import pair_hypothesis_words

TIME_PAIRING = (
    "hypothesis words spread evenly over their cue, each joins the reference cue containing "
    "its midpoint (nearest middle where reference cues overlap); words outside every reference "
    "cue are dropped; reference cues without text are skipped"
)
_SECONDS_BETWEEN_FILES = 1.0

Pair = tuple[Sequence[Cue], Sequence[Cue]]


def _in_time_order(cues: Iterable[Cue]) -> list[Cue]:
    return sorted(cues, key=lambda cue: (cue.start, cue.end))


def _file_text(cues: Sequence[Cue]) -> str:
    return " ".join(" ".join(cue.text.split()) for cue in cues if cue.text.strip())


def _suber_subtitles(cues: Sequence[Cue], offset: float = 0.0) -> list[Subtitle]:
    """Cues as subtitle-edit-rate's reader would build them from an SRT file."""
    subtitles = []
    for index, cue in enumerate(cues, 1):
        start, end = cue.start + offset, cue.end + offset
        words: list[TimedWord] = []
        for line in cue.text.split("\n"):
            line_words = [
                TimedWord(string=w, subtitle_start_time=start, subtitle_end_time=end)
                for w in line.split()
            ]
            if line_words:
                line_words[-1].line_break = LineBreak.END_OF_LINE
            words.extend(line_words)
        if words:
            words[-1].line_break = LineBreak.END_OF_BLOCK
            set_approximate_word_times(words, start, end)
        subtitles.append(Subtitle(word_list=words, index=index, start_time=start, end_time=end))
    return subtitles


def _concatenated(pairs: Sequence[Pair]) -> tuple[list[Subtitle], list[Subtitle]]:
    """All files one after another on one time axis, each past the end of the one before."""
    hyps: list[Subtitle] = []
    refs: list[Subtitle] = []
    offset = 0.0
    for hyp, ref in pairs:
        hyps += _suber_subtitles(hyp, offset)
        refs += _suber_subtitles(ref, offset)
        offset += max((cue.end for cue in (*hyp, *ref)), default=0.0) + _SECONDS_BETWEEN_FILES
    return hyps, refs


def _suber_figures(pairs: Sequence[Pair], metrics: list[str]) -> dict[str, float | None]:
    hyps, refs = _concatenated(pairs)
    figures: dict[str, float | None] = {}
    if "suber" in metrics:
        figures["suber"] = calculate_SubER(hypothesis=hyps, reference=refs)
    if "t_bleu" in metrics:
        aligned = time_align_hypothesis_to_reference(hypothesis=hyps, reference=refs)
        if any(ref.word_list for ref in refs):
            figures["t_bleu"] = calculate_sacrebleu_metric(
                hypothesis=aligned, reference=refs, metric="BLEU"
            )
        else:
            figures["t_bleu"] = None
    return figures


def _error_rates(
    pairs: Sequence[Pair], metrics: list[str], languages: Sequence[str | None]
) -> dict[str, float | None]:
    refs = [
        normalise(_file_text(ref), lang) for (_, ref), lang in zip(pairs, languages, strict=True)
    ]
    hyps = [
        normalise(_file_text(hyp), lang) for (hyp, _), lang in zip(pairs, languages, strict=True)
    ]
    # Without reference words an error rate has no denominator (jiwer would divide by 1).
    has_reference = any(refs)
    figures: dict[str, float | None] = {}
    if "wer" in metrics:  # over the files in languages written with spaces
        spaced = [i for i, lang in enumerate(languages) if lang not in CHARACTER_ERROR_LANGUAGES]
        word_refs, word_hyps = [refs[i] for i in spaced], [hyps[i] for i in spaced]
        figures["wer"] = (
            100.0 * jiwer.process_words(word_refs, word_hyps).wer if any(word_refs) else None
        )
    if "cer" in metrics:
        figures["cer"] = 100.0 * jiwer.process_characters(refs, hyps).cer if has_reference else None
    return figures


def sacrebleu_metric() -> BLEU:
    """The sacrebleu BLEU used for the `sacrebleu` figure: default settings."""
    return BLEU()


def sacrebleu_signature() -> str:
    """The signature of `sacrebleu_metric()` as used here, with one reference per segment."""
    metric = sacrebleu_metric()
    # sacrebleu only knows the reference count once it has scored something.
    metric.corpus_score(["x"], [["x"]])
    return str(metric.get_signature())


def _sacrebleu_figure(pairs: Sequence[Pair]) -> dict[str, float | None]:
    texts = [(_file_text(hyp), _file_text(ref)) for hyp, ref in pairs]
    # sacrebleu rejects empty references; a file with nothing to say has no BLEU.
    texts = [(hyp, ref) for hyp, ref in texts if ref]
    if not texts:
        return {"sacrebleu": None}
    score = sacrebleu_metric().corpus_score([hyp for hyp, _ in texts], [[ref for _, ref in texts]])
    return {"sacrebleu": score.score}


def _time_paired_texts(pairs: Sequence[Pair]) -> list[list[tuple[str, str]]]:
    """Per file, (reference cue text, paired hypothesis words) for each reference cue with text."""
    per_file = []
    for hyp, ref in pairs:
        spoken = [cue for cue in ref if cue.text.strip()]
        per_file.append(
            list(zip((cue.text for cue in spoken), pair_hypothesis_words(hyp, spoken), strict=True))
        )
    return per_file


def score_subtitle_corpus(
    pairs: Sequence[Pair],
    metrics: Iterable[str] | None = None,
    use_java: bool | None = None,
    languages: Sequence[str | None] | None = None,
) -> tuple[list[dict[str, float | None]], dict[str, float | None]]:
    """(figures per file pair, figures of the whole corpus) for (hypothesis, reference) cue lists.
    languages: each pair's language, for its error-rate rules (None: English rules).

    All files' time-paired texts share one tokenizer run, so the JVM starts once. A
    figure that is undefined (no reference text at all) is None.
    """
    metrics = chosen_metrics(metrics, SUBTITLE_METRICS, DEFAULT_SUBTITLE_METRICS, "subtitle")
    if use_java is None:
        use_java = java_available()
    pairs = [(_in_time_order(hyp), _in_time_order(ref)) for hyp, ref in pairs]
    languages = list(languages) if languages is not None else [None] * len(pairs)
    # Each file alone, then (when there are several) all of them together.
    groups = [[index] for index in range(len(pairs))]
    if len(pairs) > 1:
        groups.append(list(range(len(pairs))))
    results: list[dict[str, float | None]] = []
    for group in groups:
        chosen = [pairs[index] for index in group]
        figures = _error_rates(chosen, metrics, [languages[index] for index in group])
        figures.update(_suber_figures(chosen, metrics))
        if "sacrebleu" in metrics:
            figures.update(_sacrebleu_figure(chosen))
        results.append(figures)

    paired_metrics = [key for key in metrics if key in TIME_PAIRED_METRICS]
    if paired_metrics:
        per_file = _time_paired_texts(pairs)
        flat = [text for segments in per_file for segment in segments for text in segment]
        tokens = iter(tokenize(flat, use_java))
        tokenized = [[(next(tokens), next(tokens)) for _ in segments] for segments in per_file]
        for group, figures in zip(groups, results, strict=True):
            segments = {(f, i): seg for f in group for i, seg in enumerate(tokenized[f])}
            if segments:
                refs = {key: [ref] for key, (ref, _) in segments.items()}
                hyps = {key: hyp for key, (_, hyp) in segments.items()}
                figures.update(coco_scores(refs, hyps, paired_metrics, use_java))
            else:
                figures.update(dict.fromkeys(paired_metrics))

    ordered = [{key: figures.get(key) for key in metrics} for figures in results]
    return ordered[: len(pairs)], ordered[-1]


def score_subtitles(
    hyp_cues: Sequence[Cue],
    ref_cues: Sequence[Cue],
    metrics: Iterable[str] | None = None,
    use_java: bool | None = None,
) -> dict[str, float | None]:
    """Metrics of one hypothesis file against one reference file, 0-100 (see module doc)."""
    _, corpus = score_subtitle_corpus([(hyp_cues, ref_cues)], metrics, use_java)
    return corpus
