"""Words or segments -> cues people can read: broadcast line rules and timing that hugs
the speech.

Rules (all in `LayoutOptions`): at most `max_line_width` characters per line and
`max_lines` lines per cue, broken between words (never inside one); each cue lasts
between `min_duration` and `max_duration` seconds and shows at most `max_cps`
characters per second where the speech allows; consecutive cues are at least
`min_gap` apart and never overlap.

`layout_words` (word timestamps known) chooses where cues end by dynamic programming
over word boundaries: a sentence end is the best place, then a pause, then a comma or
the word before a conjunction or preposition; a pause of `max_pause` or longer always
ends a cue. Each cue then starts up to `lead_in` before its first word and ends up to
`lead_out` after its last, taking more of the silence around (after the end first)
only where `min_duration` or `max_cps` need it.

Speech faster than `max_cps`: the issue asks for more cues, but no split can lower the
reading rate of speech that is itself too fast (more, shorter cues carry the same
characters in the same time; words are never dropped or moved off their voice). So
those cues keep all their words, take what silence there is around them, and stay
above `max_cps`; the split is still the one that leaves the fewest seconds missing.

`layout_segment` (only segment times known) splits a segment's text into cues that
fit the lines and `max_duration`, sharing the time in proportion to characters.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass

from data.subtitles import Cue, Word


@dataclass(frozen=True)
class LayoutOptions:
    max_line_width: int = 42
    max_lines: int = 2
    max_cps: float = 20.0
    min_duration: float = 5 / 6
    max_duration: float = 7.0
    min_gap: float = 0.08  # 2 frames at 25 fps
    lead_in: float = 0.2  # a cue may start this long before its first word
    lead_out: float = 0.5  # and end this long after its last
    max_pause: float = 1.0  # a pause between words at least this long always ends a cue
    # Cue edges this close to a shot change go onto it (12 frames at 24 fps; in whole
    # frames of the video, app/cut_timing.py).
    shot_change_window: float = 0.5


# Words before which a line or a cue may break: conjunctions, relative pronouns and
# prepositions begin a new phrase.
PHRASE_STARTERS = frozenset(
    """and but or nor so yet because although though while whereas since unless until
    that which who whom whose where when whether if than as to of in on at for with
    from about into onto over under after before between through during without within
    against among across around behind beyond by like near toward towards upon""".split()
)
# Words a line or a cue should not end with: they belong to what follows.
DANGLING = PHRASE_STARTERS | frozenset(
    "a an the my your his her its our their this these those i we he she they".split()
)
# A full stop after these is not a sentence end.
_ABBREVIATIONS = frozenset("mr. mrs. ms. dr. st. vs. e.g. i.e. prof. mt.".split())
_CLOSERS = "\"'”’)]»"
_SENTENCE_END = re.compile(rf"[.?!…][{re.escape(_CLOSERS)}]*$")
_CLAUSE_END = re.compile(rf"[,;:–—][{re.escape(_CLOSERS)}]*$")

# Cue-boundary costs, lower is better (see the module docstring for the order).
_COST_PER_CUE = 1.0
_NOTICEABLE_PAUSE = 0.3  # seconds; shorter gaps between words are not pauses
_COST_CLAUSE_END = 2.0
_COST_BEFORE_PHRASE = 2.5
_COST_MID_PHRASE = 4.0
_COST_DANGLING = 1.5  # added when the cue would end on a word like "the" or "and"
# A cue short of time for min_duration / max_cps breaks a rule: a fixed cost, plus a
# cost per second so that unavoidable shortfalls (too fast speech) are kept small.
_COST_SHORT_OF_TIME = 3.0
_COST_PER_MISSING_SECOND = 20.0


def _bare(word: str) -> str:
    return word.strip(".,;:!?…\"'”’“‘()[]«»–—-").lower()


def _ends_sentence(word: str) -> bool:
    return bool(_SENTENCE_END.search(word)) and word.lower() not in _ABBREVIATIONS


def _ends_clause(word: str) -> bool:
    return bool(_CLAUSE_END.search(word)) or _ends_sentence(word)


# --------------------------------------------------------------------------- lines


def _line_break_rank(before: str, after: str) -> int:
    """How good a line break between two words is: 0 after punctuation, 1 before a
    conjunction or preposition, 2 elsewhere, 3 after a word that belongs to the next."""
    if _ends_clause(before):
        return 0
    if _bare(before) in DANGLING:
        return 3
    return 1 if _bare(after) in PHRASE_STARTERS else 2


def _best_split(words: list[str], n_lines: int, width: int) -> list[str] | None:
    """The best split of `words` into exactly `n_lines` lines of at most `width`, or None.

    Minimises (sum of break ranks, sum of squared line lengths): for a fixed number of
    lines the total length is fixed, so the second term prefers balanced lines."""
    n = len(words)
    lengths = [len(word) for word in words]
    # best[k][i]: the cost of words[:i] in k lines, and where its last line starts.
    best = [[None] * (n + 1) for _ in range(n_lines + 1)]
    best[0][0] = ((0, 0), 0)
    for k in range(1, n_lines + 1):
        for i in range(1, n + 1):
            line_len = -1
            for start in range(i - 1, -1, -1):  # the k-th line is words[start:i]
                line_len += lengths[start] + 1
                if line_len > width:
                    break
                previous = best[k - 1][start]
                if previous is None:
                    continue
                rank = _line_break_rank(words[start - 1], words[start]) if start else 0
                cost = (previous[0][0] + rank, previous[0][1] + line_len * line_len)
                if best[k][i] is None or cost < best[k][i][0]:
                    best[k][i] = (cost, start)
    if best[n_lines][n] is None:
        return None
    lines, end = [], n
    for k in range(n_lines, 0, -1):
        start = best[k][end][1]
        lines.append(" ".join(words[start:end]))
        end = start
    return lines[::-1]


def break_lines(text: str, options: LayoutOptions) -> list[str]:
    """One cue's text -> at most `max_lines` lines of at most `max_line_width` characters,
    never broken inside a word; as few lines as possible, broken after punctuation if
    possible, else before a conjunction or preposition, else where the lines are most
    even. Text that fits no such split (too long, or a word longer than a line) comes
    back greedily wrapped, with more lines or a longer line than the options allow."""
    words = text.split()
    joined = " ".join(words)
    if len(joined) <= options.max_line_width:
        return [joined] if joined else []
    for n_lines in range(2, options.max_lines + 1):
        lines = _best_split(words, n_lines, options.max_line_width)
        if lines is not None:
            return lines
    return textwrap.wrap(
        joined, width=options.max_line_width, break_long_words=False, break_on_hyphens=False
    )


class _LineFit:
    """Whether words appended one by one still fit the line rules: greedy wrapping
    uses the fewest lines, so it is the exact test."""

    def __init__(self, options: LayoutOptions):
        self.width, self.max_lines = options.max_line_width, options.max_lines
        self.lines, self.current, self.fits = 0, 0, True

    def add(self, word: str) -> bool:
        if len(word) > self.width:
            self.fits = False
        elif self.lines and self.current + 1 + len(word) <= self.width:
            self.current += 1 + len(word)
        else:
            self.lines, self.current = self.lines + 1, len(word)
        self.fits = self.fits and self.lines <= self.max_lines
        return self.fits


def cue_characters(text: str) -> int:
    """Characters a viewer reads: spaces and punctuation count, line breaks do not."""
    return len(text.replace("\n", ""))


# --------------------------------------------------------------------------- words


def _cue_end_cost(words: list[Word], j: int, options: LayoutOptions) -> float:
    """The cost of ending a cue after words[j] (the best of what applies)."""
    if j == len(words) - 1:
        return 0.0
    word, pause = words[j].text, words[j + 1].start - words[j].end
    costs = [_COST_MID_PHRASE + (_COST_DANGLING if _bare(word) in DANGLING else 0.0)]
    if _ends_sentence(word):
        costs.append(0.0)
    if pause >= _NOTICEABLE_PAUSE:
        costs.append(1.0 - 0.5 * min(1.0, pause / options.max_pause))
    if _ends_clause(word):
        costs.append(_COST_CLAUSE_END)
    if _bare(words[j + 1].text) in PHRASE_STARTERS:
        costs.append(_COST_BEFORE_PHRASE)
    return min(costs)


def _room_before(words: list[Word], i: int, options: LayoutOptions) -> float:
    """Roughly the earliest a cue starting at words[i] can start: the previous cue is
    assumed to keep its lead-out, or half the gap when that is shorter."""
    if i == 0:
        return 0.0
    end, start = words[i - 1].end, words[i].start
    return min((end + start) / 2 + options.min_gap / 2, end + options.lead_out + options.min_gap)


def _room_after(words: list[Word], j: int, options: LayoutOptions, media_end: float) -> float:
    """Roughly the latest a cue ending at words[j] can end (as `_room_before`)."""
    if j == len(words) - 1:
        return media_end
    end, start = words[j].end, words[j + 1].start
    return max((end + start) / 2 - options.min_gap / 2, start - options.lead_in - options.min_gap)


def _needed_duration(characters: int, options: LayoutOptions) -> float:
    needed = max(options.min_duration, characters / options.max_cps)
    return min(options.max_duration, needed)


def _group_words(
    words: list[Word], options: LayoutOptions, media_end: float
) -> list[tuple[int, int]]:
    """The cheapest split of `words` into cues, as (first, last) word indices.

    A cue must fit the line rules, span at most `max_duration` of speech and hold no
    pause of `max_pause` or longer (a single word is always allowed: it cannot be
    split). Cost: per cue, a fixed cost plus its squared fill (even cues), the cost of
    where it ends, and the seconds it would lack for `min_duration` / `max_cps`."""
    n = len(words)
    capacity = options.max_line_width * options.max_lines
    best = [math.inf] * (n + 1)
    first_of = [0] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        fit, characters, speech_end = _LineFit(options), -1, words[i].end
        earliest = _room_before(words, i, options)
        for j in range(i, n):
            if j > i and (
                words[j].start - words[j - 1].end >= options.max_pause
                or max(speech_end, words[j].end) - words[i].start > options.max_duration
            ):
                break
            if not fit.add(words[j].text) and j > i:
                break
            speech_end = max(speech_end, words[j].end)
            characters += len(words[j].text) + 1
            room = min(options.max_duration, _room_after(words, j, options, media_end) - earliest)
            missing = max(0.0, _needed_duration(characters, options) - room)
            cost = (
                best[i]
                + _COST_PER_CUE
                + (characters / capacity) ** 2
                + _cue_end_cost(words, j, options)
                + (_COST_SHORT_OF_TIME + _COST_PER_MISSING_SECOND * missing if missing > 0 else 0)
            )
            if cost < best[j + 1]:
                best[j + 1], first_of[j + 1] = cost, i
            if not fit.fits:  # a single word too long for a line: on its own
                break
    groups, end = [], n
    while end:
        groups.append((first_of[end], end - 1))
        end = first_of[end]
    return groups[::-1]


def _time_cues(
    spans: list[tuple[float, float]],
    characters: list[int],
    options: LayoutOptions,
    media_end: float,
) -> list[tuple[float, float]]:
    """Cue times for speech spans (first word start, last word end), in order.

    1. Hug: start `lead_in` before the speech, end `lead_out` after it, both shrunk in
       proportion where the silence between two spans is shorter (less `min_gap`);
       spans closer than `min_gap` meet in the middle of their gap.
    2. Room to read: a cue short of `min_duration` or of the time `max_cps` asks for
       grows its end into the silence up to the next cue, then its start back to the
       previous one; then it takes the next cue's lead-in and the previous cue's time
       to spare (beyond its words and its own needs), always keeping `min_gap`.
    3. A cue longer than `max_duration` gives back silence, end first."""
    starts = [start - options.lead_in for start, _ in spans]
    ends = [end + options.lead_out for _, end in spans]
    starts[0] = max(0.0, min(starts[0], spans[0][0]))
    ends[-1] = min(ends[-1], max(media_end, spans[-1][1]))
    leads = options.lead_in + options.lead_out
    for k in range(len(spans) - 1):
        speech_end, next_start = spans[k][1], spans[k + 1][0]
        usable = next_start - speech_end - options.min_gap
        if usable < 0:
            middle = (speech_end + next_start) / 2
            ends[k], starts[k + 1] = middle - options.min_gap / 2, middle + options.min_gap / 2
        elif usable < leads:
            ends[k] = speech_end + usable * options.lead_out / leads
            starts[k + 1] = next_start - usable * options.lead_in / leads
    needed = [_needed_duration(count, options) for count in characters]
    gap = options.min_gap
    for k in range(len(spans)):
        missing = needed[k] - (ends[k] - starts[k])
        if missing <= 0:
            continue
        # a. Free silence after, b. free silence before.
        next_start = starts[k + 1] if k + 1 < len(spans) else media_end + gap
        grow = max(0.0, min(missing, next_start - gap - ends[k]))
        ends[k], missing = ends[k] + grow, missing - grow
        previous_end = ends[k - 1] if k else -gap
        grow = max(0.0, min(missing, starts[k] - previous_end - gap))
        starts[k], missing = starts[k] - grow, missing - grow
        # c. The next cue's lead-in: it may start as late as its first word.
        if missing > 0 and k + 1 < len(spans):
            latest = max(starts[k + 1], spans[k + 1][0]) - gap
            grow = max(0.0, min(missing, latest - ends[k]))
            ends[k], missing = ends[k] + grow, missing - grow
            starts[k + 1] = max(starts[k + 1], ends[k] + gap)
        # d. The previous cue's spare time: it keeps its words and what it needs.
        if missing > 0 and k:
            keeps = min(ends[k - 1], max(spans[k - 1][1], starts[k - 1] + needed[k - 1]))
            starts[k] -= max(0.0, min(missing, starts[k] - keeps - gap))
            ends[k - 1] = min(ends[k - 1], starts[k] - gap)
    for k, (speech_start, speech_end) in enumerate(spans):
        excess = ends[k] - starts[k] - options.max_duration
        if excess > 0:
            trim = min(excess, max(0.0, ends[k] - speech_end))
            ends[k] -= trim
            starts[k] += min(excess - trim, max(0.0, speech_start - starts[k]))
            ends[k] = min(ends[k], starts[k] + options.max_duration)
    return list(zip(starts, ends, strict=True))


def _ordered_words(words: list[Word]) -> list[Word]:
    """Words with text, sorted by start, each ending no later than the next starts:
    aligners can let neighbours overlap, and cue timing assumes they do not."""
    kept = sorted((word for word in words if word.text.strip()), key=lambda word: word.start)
    ordered = []
    for index, word in enumerate(kept):
        start = max(0.0, word.start)
        end = max(start, word.end)
        if index + 1 < len(kept):
            end = max(start, min(end, kept[index + 1].start))
        ordered.append(Word(start, end, word.text.strip(), word.probability))
    return ordered


def _in_order(times: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    """A last guarantee for words no layout can fit (say, many within a few
    milliseconds): each cue starts `gap` after the previous one ends and lasts 1 ms at
    least, even where that moves it off its words."""
    ordered, previous_end = [], -math.inf
    for start, end in times:
        start = max(start, previous_end + gap)
        end = max(end, start + 0.001)
        ordered.append((start, end))
        previous_end = end
    return ordered


def layout_words(
    words: list[Word], options: LayoutOptions, media_end: float | None = None
) -> list[Cue]:
    """Timed words -> sorted, non-overlapping cues that follow the layout rules (see the
    module docstring). `media_end`: the media's duration, so that the last cue's
    lead-out does not outlast the media (pass it when known). Words with empty text
    are dropped; times are rounded to milliseconds."""
    words = _ordered_words(words)
    if not words:
        return []
    limit = math.inf if media_end is None else media_end
    groups = _group_words(words, options, limit)
    spans = [(words[i].start, max(word.end for word in words[i : j + 1])) for i, j in groups]
    texts = [
        "\n".join(break_lines(" ".join(w.text for w in words[i : j + 1]), options))
        for i, j in groups
    ]
    times = _time_cues(spans, [cue_characters(text) for text in texts], options, limit)
    times = _in_order(times, options.min_gap)
    return [
        Cue(round(start, 3), round(end, 3), text)
        for (start, end), text in zip(times, texts, strict=True)
    ]


# ------------------------------------------------------------------------ segments


def layout_segment(start: float, end: float, text: str, options: LayoutOptions) -> list[Cue]:
    """One timed segment of text -> cues within [start, end]: one cue when the text fits
    the lines and the segment `max_duration`, else several, split where `layout_words`
    would split evenly spoken words, the time shared in proportion to characters and
    `min_gap` kept between them."""
    texts = text.split()
    if not texts:
        return []
    total = sum(len(word) + 1 for word in texts)
    words, t = [], start
    for word in texts:  # evenly spoken: each word (and its space) takes its share of time
        step = (end - start) * (len(word) + 1) / total
        words.append(Word(t, t + step, word))
        t += step
    groups = _group_words(words, options, end)
    cues = []
    for index, (first, last) in enumerate(groups):
        cue_start = start if index == 0 else words[first].start + options.min_gap / 2
        cue_end = end if index == len(groups) - 1 else words[last].end - options.min_gap / 2
        lines = break_lines(" ".join(word.text for word in words[first : last + 1]), options)
        cues.append(Cue(round(cue_start, 3), round(cue_end, 3), "\n".join(lines)))
    return cues
