"""Dynamic time warping as Whisper uses it to align text tokens to audio frames.

Whisper's version is a numba loop; numba, scipy and DTW libraries are not installed here,
so this one is vectorised over anti-diagonals: every cell of diagonal i + j depends only
on the two diagonals before it, so one numpy step fills a whole diagonal. Each cell is
still `cost + chosen predecessor`, the same additions the loop does, so paths (ties
included) come out exactly as the loop's.
"""

from __future__ import annotations

import numpy as np

DIAGONAL, UP, LEFT = 0, 1, 2  # the step taken into a cell: from (i-1, j-1), (i-1, j), (i, j-1)


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest monotonic path through cost (N, M) from (0, 0) to (N-1, M-1), each step
    moving one row, one column, or both. Returns (rows, columns), each (L,) int, in path
    order. Ties are broken as Whisper's loop does: diagonal only if strictly cheapest, then
    up only if strictly cheapest, else left (even when left is dearer)."""
    n, m = cost.shape
    cost = np.asarray(cost, dtype=np.float64)
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    trace = np.full((n + 1, m + 1), LEFT, dtype=np.int8)
    for d in range(2, n + m + 1):  # cells (i, j) of the padded table with i + j = d
        i = np.arange(max(1, d - m), min(n, d - 1) + 1)
        j = d - i
        diagonal, up, left = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
        step = np.where(
            (diagonal < up) & (diagonal < left),
            DIAGONAL,
            np.where((up < diagonal) & (up < left), UP, LEFT),
        )
        total[i, j] = cost[i - 1, j - 1] + np.choose(step, (diagonal, up, left))
        trace[i, j] = step
    return _backtrace(trace)


def _backtrace(trace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """trace (N+1, M+1) of steps -> the path's (rows, columns) from the start."""
    trace[0, :] = LEFT  # along the table's edges the only way back is straight
    trace[:, 0] = UP
    i, j = trace.shape[0] - 1, trace.shape[1] - 1
    rows, columns = [], []
    while i > 0 or j > 0:
        rows.append(i - 1)
        columns.append(j - 1)
        step = trace[i, j]
        if step == DIAGONAL:
            i, j = i - 1, j - 1
        elif step == UP:
            i -= 1
        else:
            j -= 1
    return np.array(rows[::-1], dtype=np.int64), np.array(columns[::-1], dtype=np.int64)
