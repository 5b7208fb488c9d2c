"""How readable and how well timed subtitles are: the share of cues within each layout
rule, and how hypothesis cue time lines up with reference speech.

Each file is checked against the rules of its language (data/language_rules.py: Chinese
has 16 characters per line, 9 per second and its own marks). Figures are percentages
(0-100). The rules and the check of one cue against them are data/subtitle_rules.py's, the
same the layout follows.
"""

from __future__ import annotations

from data.language_rules import layout_options_for
from data.subtitle_rules import RULE_LIMITS, RULES, LayoutOptions, rules_kept
from data.subtitles import Cue

LAYOUT_FIGURES = (*(f"rule_{rule}" for rule in RULES), "rule_all")
TIMING_FIGURES = ("hyp_time_near_speech", "ref_speech_covered")
# Counts, not percentages: how many cues were laid out, and how many sit in silence.
COUNT_FIGURES = ("cues", "cues_off_speech")
# Hypothesis cue time this close to reference speech (seconds) counts as near it.
SPEECH_TOLERANCE = 0.3


def rule_counts(
    cues: list[Cue], options: LayoutOptions, language: str | None = None
) -> dict[str, int]:
    """{"cues": how many, "rule_<name>": how many keep that rule, "rule_all": how many
    keep every rule}; cues are taken in start-time order; `language` picks its rules."""
    options = layout_options_for(options, language)
    ordered = sorted(cues, key=lambda cue: (cue.start, cue.end))
    counts = {"cues": len(ordered), **{key: 0 for key in LAYOUT_FIGURES}}
    for index, cue in enumerate(ordered):
        next_cue = ordered[index + 1] if index + 1 < len(ordered) else None
        kept = rules_kept(cue, next_cue, options, language)
        for rule, ok in kept.items():
            counts[f"rule_{rule}"] += ok
        counts["rule_all"] += all(kept.values())
    return counts


def layout_compliance(
    cues: list[Cue], options: LayoutOptions, language: str | None = None
) -> dict[str, float | None]:
    """The percentage of cues within each rule ("rule_line_width", "rule_line_count",
    "rule_min_duration", "rule_max_duration", "rule_cps", "rule_gap": the gap to the
    next cue) and within all of them ("rule_all"); None for each when there are no cues."""
    return _compliance_percentages(rule_counts(cues, options, language))


def _compliance_percentages(counts: dict[str, int]) -> dict[str, float | None]:
    total = counts["cues"]
    return {key: 100 * counts[key] / total if total else None for key in LAYOUT_FIGURES}


# ----------------------------------------------------------------------------- timing


def union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, disjoint intervals covering the same time (empty ones dropped)."""
    merged: list[list[float]] = []
    for start, end in sorted(interval for interval in intervals if interval[1] > interval[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _length(intervals: list[tuple[float, float]]) -> float:
    return sum(end - start for start, end in intervals)


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Seconds shared by two unions (each sorted and disjoint)."""
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        total += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def timing_seconds(
    hyp: list[Cue], ref: list[Cue], tolerance: float = SPEECH_TOLERANCE
) -> dict[str, float]:
    """The seconds behind `speech_timing`, which add up over files: hypothesis time,
    the part of it near reference speech, reference speech, the part of it covered, and
    the number of hypothesis cues with no time near reference speech."""
    hyp_time = union([(cue.start, cue.end) for cue in hyp])
    speech = union([(cue.start, cue.end) for cue in ref])
    near = union([(start - tolerance, end + tolerance) for start, end in speech])
    off_speech = sum(1 for cue in hyp if _overlap([(cue.start, cue.end)], near) == 0)
    return {
        "hyp_seconds": _length(hyp_time),
        "hyp_seconds_near_speech": _overlap(hyp_time, near),
        "ref_seconds": _length(speech),
        "ref_seconds_covered": _overlap(speech, hyp_time),
        "cues_off_speech": off_speech,
    }


def timing_percentages(seconds: dict[str, float]) -> dict[str, float]:
    """`timing_seconds` (of one file or summed over many) -> `speech_timing`'s figures."""
    hyp, ref = seconds["hyp_seconds"], seconds["ref_seconds"]
    return {
        # No hypothesis time: none of it lies away from speech.
        "hyp_time_near_speech": 100 * seconds["hyp_seconds_near_speech"] / hyp if hyp else 100.0,
        # No reference speech: there is nothing left uncovered.
        "ref_speech_covered": 100 * seconds["ref_seconds_covered"] / ref if ref else 100.0,
    }


def speech_timing(
    hypothesis_cues: list[Cue], reference_cues: list[Cue], tolerance: float = SPEECH_TOLERANCE
) -> dict[str, float]:
    """How hypothesis cue time lines up with reference speech (reference cue time), as
    percentages:

    - "hyp_time_near_speech": of the hypothesis cues' time (their union), the share
      within `tolerance` seconds of reference speech (reference cues widened by
      `tolerance` on each side); 100 when there is no hypothesis time.
    - "ref_speech_covered": of the reference cues' time (their union), the share that
      hypothesis cues cover; 100 when there is no reference speech.

    Overlapping cues count their shared time once."""
    return timing_percentages(timing_seconds(hypothesis_cues, reference_cues, tolerance))


# ----------------------------------------------------------------------------- report


def layout_report(
    cue_pairs: list[tuple[list[Cue], list[Cue]]],
    options: LayoutOptions,
    tolerance: float = SPEECH_TOLERANCE,
    languages: list[str | None] | None = None,
) -> tuple[list[dict[str, float | None]], dict[str, float | None]]:
    """Per (hypothesis, reference) pair and over all of them: the hypothesis' layout
    compliance, its timing against the reference, its number of cues and of cues off
    speech. Overall figures pool the cues and the seconds of every file."""
    per_file, totals, seconds = [], None, None
    languages = languages or [None] * len(cue_pairs)
    for (hyp, ref), language in zip(cue_pairs, languages, strict=True):
        counts = rule_counts(hyp, options, language)
        timing = timing_seconds(hyp, ref, tolerance)
        per_file.append(_figures(counts, timing))
        totals = counts if totals is None else {k: totals[k] + counts[k] for k in counts}
        seconds = timing if seconds is None else {k: seconds[k] + timing[k] for k in timing}
    overall = _figures(totals, seconds) if cue_pairs else {}
    return per_file, overall


def _figures(counts: dict[str, int], seconds: dict[str, float]) -> dict[str, float | None]:
    return {
        **_compliance_percentages(counts),
        **timing_percentages(seconds),
        "cues": counts["cues"],
        "cues_off_speech": seconds["cues_off_speech"],
    }


def layout_settings(options: LayoutOptions, tolerance: float) -> dict:
    """What a reader needs to reproduce the layout figures."""
    return {
        "options": {name: getattr(options, name) for name in RULE_LIMITS},
        "rules": "share of hypothesis cues (in start order) within each rule; gap: to the "
        "next cue; cps: characters without line breaks per second; 1 ms slack on times; "
        "each file by its language's rules (Chinese: 16 characters per line, 9 per second, "
        "marks: full-width, no space between characters, no comma or full stop ending a line)",
        "timing": f"reference speech = union of reference cue times; near speech = within "
        f"{tolerance:g} s of it; cues off speech: hypothesis cues with no time near it",
        "tolerance": tolerance,
    }
