"""Lost speech, counted: runs of consecutive reference words that a transcript leaves out.

A run is a stretch of at least `min_run` reference words that the word alignment (jiwer,
after the English normaliser of the Whisper paper on both sides) marks as deleted. A
recognition error substitutes words; a dropped sentence or phrase deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import jiwer

from evaluation.text_norm import normalise

MIN_RUN = 4


@dataclass
class LostRuns:
    runs: list[str]  # the reference words of each lost run, joined
    errors: int  # substitutions + deletions + insertions
    words: int  # reference words


def lost_runs(reference: str, hypothesis: str, min_run: int = MIN_RUN) -> LostRuns:
    ref, hyp = normalise(reference), normalise(hypothesis)
    ref_words = ref.split()
    if not ref_words:
        return LostRuns([], len(hyp.split()), 0)
    if not hyp.strip():
        run = [" ".join(ref_words)] if len(ref_words) >= min_run else []
        return LostRuns(run, len(ref_words), len(ref_words))
    out = jiwer.process_words(ref, hyp)
    runs = []
    for chunk in out.alignments[0]:
        if chunk.type == "delete" and chunk.ref_end_idx - chunk.ref_start_idx >= min_run:
            runs.append(" ".join(ref_words[chunk.ref_start_idx : chunk.ref_end_idx]))
    errors = out.substitutions + out.deletions + out.insertions
    return LostRuns(runs, errors, len(ref_words))
