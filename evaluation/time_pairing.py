"""Pair each reference cue with the hypothesis words spoken during it.

Hypothesis and reference cues rarely line up one to one: a system splits and merges
sentences differently. Caption metrics (BLEU, ROUGE-L, CIDEr-D) need segments that
correspond, so the hypothesis is re-cut along the reference's timing, as in t-BLEU
(Cherry et al., Interspeech 2021): a hypothesis cue's words are spread evenly over its
span, each word sits at the middle of its share, and it joins the reference cue that
contains that instant. Where reference cues overlap, the one whose middle is nearest
wins, so no word is counted twice. Words outside every reference cue are dropped.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from itertools import accumulate

from data.subtitles import Cue


def word_times(cue: Cue) -> list[tuple[float, str]]:
    """(instant, word) for each word of `cue`, spread evenly over its span."""
    words = cue.text.split()
    share = (cue.end - cue.start) / max(len(words), 1)
    return [(cue.start + (index + 0.5) * share, word) for index, word in enumerate(words)]


def pair_hypothesis_words(hyp_cues: Sequence[Cue], ref_cues: Sequence[Cue]) -> list[str]:
    """For each reference cue, in the given order, the hypothesis words inside it."""
    order = sorted(range(len(ref_cues)), key=lambda i: (ref_cues[i].start, ref_cues[i].end))
    starts = [ref_cues[i].start for i in order]
    # latest_end[k]: the latest end among the first k+1 cues by start. Walking back from
    # the last cue that starts before an instant can stop once this is not after it.
    latest_end = list(accumulate((ref_cues[i].end for i in order), max))
    paired: list[list[tuple[float, str]]] = [[] for _ in ref_cues]
    for hyp in hyp_cues:
        for instant, word in word_times(hyp):
            best, best_distance = None, float("inf")
            position = bisect.bisect_right(starts, instant) - 1
            while position >= 0 and latest_end[position] > instant:
                cue = ref_cues[order[position]]
                if cue.start <= instant < cue.end:
                    distance = abs(instant - (cue.start + cue.end) / 2)
                    if distance < best_distance:
                        best, best_distance = order[position], distance
                position -= 1
            if best is not None:
                paired[best].append((instant, word))
    # Overlapping hypothesis cues interleave in time; read each segment in time order.
    return [" ".join(word for _, word in sorted(words, key=lambda w: w[0])) for words in paired]
