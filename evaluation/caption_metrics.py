"""COCO caption metrics: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, computed by pycocoevalcap.

The figures equal what pycocoevalcap's own COCOEvalCap gives: the same PTBTokenizer, the
same scorer classes, the same (tokenized) inputs. Two differences that change no number:
hypotheses and references go through one tokenizer run (one JVM start instead of two;
the tokenizer keeps one output line per input line), and BLEU is asked not to print.

CIDEr here is pycocoevalcap's `Cider`, which is CIDEr-D (clipped n-gram counts, Gaussian
length penalty, sigma 6); its IDF comes from the references of the scored corpus, so a
CIDEr-D of one caption alone means little. Figures are on the 0-100 scale papers print.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Hashable, Iterable

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS, PTBTokenizer
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from evaluation.metric_names import BLEU_KEYS, CAPTION_METRICS, chosen_metrics

PTB_TOKENIZER = (
    "Stanford PTBTokenizer (CoreNLP 3.4.1 via pycocoevalcap), lowercased, punctuation dropped"
)
FALLBACK_TOKENIZER = "sacrebleu 13a tokenizer, lowercased, PTB punctuation tokens dropped"


def java_available() -> bool:
    """Whether a `java` executable is on PATH (PTBTokenizer and METEOR need one)."""
    return shutil.which("java") is not None


def tokenizer_description(use_java: bool) -> str:
    return PTB_TOKENIZER if use_java else FALLBACK_TOKENIZER


def java_missing_note() -> str:
    """The one note printed when Java is missing."""
    return (
        "note: Java not found, so METEOR is skipped and captions are tokenized with sacrebleu's "
        "13a tokenizer (lowercased, punctuation dropped) instead of pycocoevalcap's PTBTokenizer; "
        "figures differ slightly from published ones"
    )


@contextlib.contextmanager
def _java_stderr_captured():
    """Hide the tokenizer's "tokenized N tokens" chatter; show it only when something fails.

    The JVM inherits file descriptor 2, so redirecting `sys.stderr` would not be enough.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def tokenize(texts: list[str], use_java: bool) -> list[str]:
    """Tokenized, lowercased `texts` as the COCO metrics expect them; one JVM for all of them."""
    # One line per caption: the Java tokenizer reads lines, so no line break may survive.
    flat = [" ".join(text.split()) for text in texts]
    tokens = [""] * len(flat)
    non_empty = [index for index, text in enumerate(flat) if text]
    if not non_empty:
        return tokens
    if use_java:
        with _java_stderr_captured():
            tokenized = PTBTokenizer().tokenize({i: [{"caption": flat[i]}] for i in non_empty})
        if len(tokenized) != len(non_empty):
            raise RuntimeError(
                f"PTBTokenizer returned {len(tokenized)} lines for {len(non_empty)} captions"
            )
        for index, (line,) in tokenized.items():
            tokens[index] = line
    else:
        tokenizer = Tokenizer13a()
        punctuation = set(PUNCTUATIONS)
        for index in non_empty:
            words = tokenizer(flat[index].lower()).split()
            tokens[index] = " ".join(word for word in words if word not in punctuation)
    return tokens


def start_meteor(metrics: Iterable[str], use_java: bool) -> Meteor | None:
    """A METEOR scorer whose JVM starts loading now, or None if METEOR is not wanted.

    Loading METEOR's paraphrase table takes most of its time (about 15 s on 2 cores),
    and it needs no input: started first, it loads while Python tokenizes and computes
    BLEU, ROUGE-L and CIDEr-D, and the figures stay exactly the same.
    """
    return Meteor() if use_java and "meteor" in metrics else None


def coco_scores(
    references: dict[Hashable, list[str]],
    hypotheses: dict[Hashable, str],
    metrics: Iterable[str],
    use_java: bool,
    meteor: Meteor | None = None,
) -> dict[str, float | None]:
    """pycocoevalcap scores of tokenized captions, 0-100. METEOR is None without Java.

    `meteor` is a scorer from `start_meteor`; one is started here if METEOR is wanted
    and none is given. Its JVM stops when the last reference to it goes (Meteor.__del__).
    """
    metrics = list(metrics)
    if meteor is None:
        meteor = start_meteor(metrics, use_java)
    gts = {key: references[key] for key in references}
    res = {key: [hypotheses[key]] for key in references}
    scores: dict[str, float | None] = {}
    if any(key in metrics for key in BLEU_KEYS):
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        for key, value in zip(BLEU_KEYS, bleu, strict=True):
            if key in metrics:
                scores[key] = 100.0 * value
    if "rougeL" in metrics:
        scores["rougeL"] = 100.0 * float(Rouge().compute_score(gts, res)[0])
    if "cider" in metrics:
        scores["cider"] = 100.0 * float(Cider().compute_score(gts, res)[0])
    # METEOR last: by now its JVM has had the longest time to load.
    if "meteor" in metrics:
        scores["meteor"] = 100.0 * meteor.compute_score(gts, res)[0] if meteor else None
    return {key: scores[key] for key in metrics if key in scores}


def score_caption_sets(
    hyps: dict[str, str],
    refs: dict[str, list[str]],
    metrics: Iterable[str] | None = None,
    use_java: bool | None = None,
) -> dict[str, float | None]:
    """COCO metrics of one hypothesis per id against that id's references, 0-100.

    Scores the ids present on both sides (callers report the others). `metrics` picks a
    subset of CAPTION_METRICS; `use_java` defaults to whether Java is installed.
    """
    metrics = chosen_metrics(metrics, CAPTION_METRICS, CAPTION_METRICS, "caption")
    if use_java is None:
        use_java = java_available()
    ids = [video_id for video_id in refs if video_id in hyps]
    if not ids:
        raise ValueError("no id has both a hypothesis and references")
    empty = [video_id for video_id in ids if not refs[video_id]]
    if empty:
        raise ValueError(f"id {empty[0]!r} has no reference captions")
    meteor = start_meteor(metrics, use_java)  # loads while the captions are tokenized
    texts = [hyps[video_id] for video_id in ids]
    texts += [caption for video_id in ids for caption in refs[video_id]]
    tokens = iter(tokenize(texts, use_java))
    hypotheses = {video_id: next(tokens) for video_id in ids}
    references = {video_id: [next(tokens) for _ in refs[video_id]] for video_id in ids}
    return coco_scores(references, hypotheses, metrics, use_java, meteor)
