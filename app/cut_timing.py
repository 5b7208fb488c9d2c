"""Cues that respect the edit: timed words + the video's cuts -> cues laid out by
app/layout.py whose times follow the shot-change rules of data/shot_change_rules.py.

1. Words are split into scenes at every cut no word runs across, and each scene is laid
   out on its own (its cues may use the time up to the gap before the next cut): a cue
   never holds words from both sides of such a cut. A cut the speech runs across may lie
   inside a cue.
2. Every cue edge then takes the best of a few candidate times: where the layout put it;
   onto a cut within the snap window (in-time on the cut, out-time the gap before it);
   exactly a window away from a cut the speech prevents it from going onto (the speech
   starts before the cut, or ends too close to it); and for an out-time, the gap before
   the next cut when the cue needs more time to be read. Candidates never hide a word
   (in-time after the first word starts, out-time before the last ends; only the gap
   before a cut may cover the last frames of a word that ends before the cut, finer than
   the alignment times word ends), never move an in-time more than the window before the
   layout's lead-in, and keep `max_duration`;
   a dynamic programme over the cues chooses them so that consecutive cues keep
   `min_gap`, at the least cost: a shot-change rule broken costs most, then time missing
   for `min_duration` / `max_cps`, then each second moved.
"""

from __future__ import annotations

import bisect
import math

from app.layout import LayoutOptions, cue_characters, layout_words
from data.shot_change_rules import (
    cut_gap,
    cuts_crossed,
    cuts_near,
    in_time_off_cut,
    out_time_off_cut,
    snap_window,
    speech_across,
    tolerance,
)
from data.shot_changes import ShotChanges
from data.subtitles import Cue, Word

_COST_RULE = 1000.0  # an edge off a cut in its window, or a cut crossed without speech
_COST_SHORT = 30.0  # a cue short of the time min_duration / max_cps ask for ...
_COST_PER_MISSING_SECOND = 100.0  # ... plus this per second missing
_EPSILON = 1e-6


def _scenes(words: list[Word], cuts: list[float]) -> list[tuple[list[Word], float, float]]:
    """Words split at the cuts no word runs across: [(words, the cut before them or 0,
    the cut after them or inf)]."""
    speech = [(word.start, word.end) for word in words]
    free = [0.0] + [cut for cut in cuts if not speech_across(cut, speech, 0.0)] + [math.inf]
    scenes, current, index = [], [], 1
    for word in words:
        while word.start >= free[index]:
            if current:
                scenes.append((current, free[index - 1], free[index]))
                current = []
            index += 1
        current.append(word)
    if current:
        scenes.append((current, free[index - 1], free[index]))
    return scenes


def _cue_spans(cues: list[Cue], words: list[Word]) -> list[tuple[float, float]]:
    """Each cue's speech (first word start, last word end): a word belongs to the cue
    before the middle of the gap that follows it (layout keeps every word in its cue)."""
    spans, index = [], 0
    for k, cue in enumerate(cues):
        limit = (cue.end + cues[k + 1].start) / 2 if k + 1 < len(cues) else math.inf
        first = index
        while index < len(words) and (words[index].start + words[index].end) / 2 < limit:
            index += 1
        mine = words[first:index] or [Word(cue.start, cue.end, "")]
        spans.append((mine[0].start, max(word.end for word in mine)))
    return spans


def _needed(cue: Cue, options: LayoutOptions) -> float:
    characters = cue_characters(cue.text)
    return min(options.max_duration, max(options.min_duration, characters / options.max_cps))


class _Rules:
    """The shot-change rules at one video's frame rate, and the candidate edge times."""

    def __init__(self, shots: ShotChanges, words: list[Word], options: LayoutOptions, end: float):
        self.cuts, self.fps, self.options, self.end = list(shots.times), shots.fps, options, end
        self.window = snap_window(options.shot_change_window, shots.fps)
        self.gap = cut_gap(options.min_gap, shots.fps)
        self.speech = [(word.start, word.end) for word in words]

    def in_times(self, start: float, first_word: float, extra=()) -> list[float]:
        earliest = max(0.0, min(start, first_word - self.options.lead_in) - self.window)
        times = {start, *extra}
        for cut in cuts_near(
            self.cuts, first_word, self.window + self.options.lead_in + self.window
        ):
            times.update((cut, cut - self.window, cut + self.window))
        return sorted(t for t in times if earliest - _EPSILON <= t <= first_word + _EPSILON)

    def out_times(self, end: float, last_word: float, extra=()) -> list[float]:
        near = cuts_near(self.cuts, end, 2 * self.window)
        times = {end, *extra, *(cut + self.window for cut in near)}
        times = {t for t in times if t >= last_word - _EPSILON}
        following = bisect.bisect_right(self.cuts, end + self.gap)
        if following < len(self.cuts):  # out to the next cut, for reading time
            near.append(self.cuts[following])
        # Speech that ends before a cut ends on it: the gap before the cut may cover the
        # last frames of its last word, whose end the alignment times to 20 ms at best.
        times.update(cut - self.gap for cut in near if cut >= last_word - _EPSILON)
        return sorted(t for t in times if t <= max(self.end, end))

    def broken(self, start: float, end: float) -> int:
        """How many shot-change rules a cue over [start, end] breaks."""
        count = in_time_off_cut(start, self.cuts, self.window, self.fps) is not None
        count += out_time_off_cut(end, self.cuts, self.window, self.gap, self.fps) is not None
        return count + len(cuts_crossed(start, end, self.cuts, self.speech, self.gap, self.fps))


def _retime(cues: list[Cue], spans, rules: _Rules, options: LayoutOptions) -> list[Cue]:
    """The dynamic programme of step 2 (module docstring)."""
    # (the last cue's out-time, cost so far, the (start, end) of every cue so far): the
    # cheapest path per out-time of the latest cue; a file has a few hundred cues.
    previous: list[tuple[float, float, tuple]] = [(-math.inf, 0.0, ())]
    for cue, (first_word, last_word) in zip(cues, spans, strict=True):
        needed = _needed(cue, options)
        longest = max(options.max_duration, cue.end - cue.start)
        # Words closer than min_gap share their gap: the layout's edge may cut into them.
        first_word, last_word = max(first_word, cue.start), min(last_word, cue.end)
        ends = rules.out_times(cue.end, last_word)
        # A cue short of time may take it from either side of a snapped edge.
        starts = rules.in_times(cue.start, first_word, [e - needed for e in ends])
        ends = rules.out_times(cue.end, last_word, [s + needed for s in starts])
        pairs = []
        for start in starts:
            for end in ends:
                if end - start > longest + _EPSILON or end <= start:
                    continue
                missing = needed - (end - start)
                cost = _COST_RULE * rules.broken(start, end)
                if missing > 0.001:
                    cost += _COST_SHORT + _COST_PER_MISSING_SECOND * missing
                cost += abs(start - cue.start) + abs(end - cue.end)
                pairs.append((start, end, cost))
        current = []
        for start, end, cost in pairs:
            options_here = [
                (total + cost, path)
                for last_end, total, path in previous
                if start >= last_end + options.min_gap - _EPSILON
            ]
            if options_here:
                total, path = min(options_here, key=lambda item: item[0])
                current.append((end, total, (*path, (start, end))))
        if not current:  # nothing fits beside the previous cue: keep the layout's times
            last_end, total, path = min(previous, key=lambda item: item[0])
            current = [(cue.end, total + _COST_RULE, (*path, (cue.start, cue.end)))]
        # Only the cheapest path per out-time matters to the cues after.
        by_end: dict[float, tuple[float, float, tuple]] = {}
        for item in current:
            if item[0] not in by_end or item[1] < by_end[item[0]][1]:
                by_end[item[0]] = item
        previous = list(by_end.values())
    _, _, path = min(previous, key=lambda item: item[1])
    return [
        Cue(round(start, 3), round(end, 3), cue.text)
        for (start, end), cue in zip(path, cues, strict=True)
    ]


def layout_with_cuts(
    words: list[Word],
    shots: ShotChanges | None,
    options: LayoutOptions,
    media_end: float | None = None,
) -> list[Cue]:
    """`layout_words`, then the shot-change rules (module docstring); without cuts, just
    `layout_words`."""
    if shots is None or not shots.times:
        return layout_words(words, options, media_end)
    words = sorted((word for word in words if word.text.strip()), key=lambda word: word.start)
    end = math.inf if media_end is None else media_end
    rules = _Rules(shots, words, options, end)
    cues, spans = [], []
    for scene, cut_before, cut_after in _scenes(words, rules.cuts):
        laid = layout_words(scene, options, min(end, max(cut_after - rules.gap, scene[-1].end)))
        # The layout may borrow time before the scene for reading; the cut ends it there.
        laid = [Cue(max(cue.start, cut_before), cue.end, cue.text) for cue in laid]
        spans += _cue_spans(laid, scene)
        cues += laid
    if not cues:
        return cues
    return _retime(cues, spans, rules, options)


def cut_marks(cues: list[Cue], shots: ShotChanges | None, options: LayoutOptions) -> list[str]:
    """For each cue, how it meets the cuts, for people: "starts on a cut", "ends before
    a cut" (the gap before it), "a cut at 12.34 s inside"; "" when no cut is near."""
    if shots is None or not shots.times:
        return ["" for _ in cues]
    cuts, fps = list(shots.times), shots.fps
    gap, tol = cut_gap(options.min_gap, fps), tolerance(fps)
    marks = []
    for cue in cues:
        mark = []
        if cuts_near(cuts, cue.start, tol):
            mark.append("starts on a cut")
        inside = cuts[
            bisect.bisect_right(cuts, cue.start + tol) : bisect.bisect_left(cuts, cue.end - tol)
        ]
        mark += [f"a cut at {cut:.2f} s inside" for cut in inside]
        if cuts_near(cuts, cue.end + gap, tol):
            mark.append("ends before a cut")
        marks.append("; ".join(mark))
    return marks
