"""The timing rules cues keep around shot changes, as plain checks shared by the layout
(app/cut_timing.py) and the layout report (evaluation/shot_change_report.py).

Netflix's timing guidelines: a cue does not cross a cut unless the speech does; an in-time
within the snap window of a cut (12 frames at 24 fps, half a second) goes onto it, an
out-time 2 frames before it (here: the cue gap, `min_gap`, in whole frames of the video).
Times are compared to half a frame: subtitle files keep milliseconds, players show frames.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence


def snap_window(window: float, fps: float) -> float:
    """The snap window in seconds, a whole number of the video's frames (12 at 24 and 25
    fps, 15 at 29.97 for the default half second; 0: no snapping)."""
    return round(window * fps) / fps


def cut_gap(min_gap: float, fps: float) -> float:
    """How long before a cut an out-time goes: `min_gap` rounded up to whole frames (2
    frames at 24 and 25 fps for 0.08 s, 3 at 29.97), so a cue that ends there and one that
    starts on the cut keep the gap between cues."""
    return max(1, math.ceil(min_gap * fps - 1e-6)) / fps


def tolerance(fps: float) -> float:
    """Half a frame: two times this close show on the same frame."""
    return 0.5 / fps


def speech_across(cut: float, speech: Sequence[tuple[float, float]], gap: float) -> bool:
    """Whether speech runs across `cut`: a stretch that starts before it and ends after
    `cut - gap` (speech ending closer to the cut than the gap cannot end before it).
    `speech`: (start, end) stretches sorted by start."""
    last = bisect.bisect_left(speech, (cut,))  # the stretches that start before the cut
    return any(end > cut - gap for _, end in speech[:last])


def cuts_near(cuts: Sequence[float], t: float, distance: float) -> list[float]:
    """The cuts within `distance` of `t` (`cuts` sorted)."""
    return list(
        cuts[bisect.bisect_left(cuts, t - distance) : bisect.bisect_right(cuts, t + distance)]
    )


def in_time_off_cut(t: float, cuts: Sequence[float], window: float, fps: float) -> float | None:
    """The cut that an in-time `t` lies within the window of but not on, else None."""
    tol = tolerance(fps)
    for cut in cuts_near(cuts, t, window - tol):
        if abs(t - cut) > tol:
            return cut
    return None


def out_time_off_cut(
    t: float, cuts: Sequence[float], window: float, gap: float, fps: float
) -> float | None:
    """The cut that an out-time `t` lies within the window of but not `gap` before, else None."""
    tol = tolerance(fps)
    for cut in cuts_near(cuts, t, window - tol):
        if abs(t - (cut - gap)) > tol:
            return cut
    return None


def cuts_crossed(
    start: float,
    end: float,
    cuts: Sequence[float],
    speech: Sequence[tuple[float, float]],
    gap: float,
    fps: float,
) -> list[float]:
    """The cuts a cue shown over [start, end] crosses while no speech runs across them."""
    tol = tolerance(fps)
    inside = cuts[bisect.bisect_right(cuts, start + tol) : bisect.bisect_left(cuts, end - tol)]
    return [cut for cut in inside if not speech_across(cut, speech, gap)]
