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
    return dtw_many([cost])[0]


def dtw_many(costs: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """`dtw` of several cost matrices of any shapes, filled together: each is padded to the
    largest (N, M), and a cell depends only on cells above and left of it, so the padding
    never reaches a matrix's own cells; each path is traced back from its own corner."""
    n = max(cost.shape[0] for cost in costs)
    m = max(cost.shape[1] for cost in costs)
    cost = np.zeros((len(costs), n, m))
    for b, one in enumerate(costs):
        cost[b, : one.shape[0], : one.shape[1]] = one
    total = np.full((len(costs), n + 1, m + 1), np.inf)
    total[:, 0, 0] = 0.0
    trace = np.full((len(costs), n + 1, m + 1), LEFT, dtype=np.int8)
    for d in range(2, n + m + 1):  # cells (i, j) of the padded table with i + j = d
        i = np.arange(max(1, d - m), min(n, d - 1) + 1)
        j = d - i
        diagonal, up, left = total[:, i - 1, j - 1], total[:, i - 1, j], total[:, i, j - 1]
        step = np.where(
            (diagonal < up) & (diagonal < left),
            DIAGONAL,
            np.where((up < diagonal) & (up < left), UP, LEFT),
        )
        total[:, i, j] = cost[:, i - 1, j - 1] + np.choose(step, (diagonal, up, left))
        trace[:, i, j] = step
    return [
        _backtrace(trace[b, : one.shape[0] + 1, : one.shape[1] + 1]) for b, one in enumerate(costs)
    ]


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
