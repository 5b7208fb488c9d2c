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
    never reaches a matrix's own cells; each path is traced back from its own corner.

    The tables are kept skewed, [d, i] holding cell (i, d - i), so that a diagonal and
    the two before it are contiguous slices rather than gathers, which is faster."""
    n = max(cost.shape[0] for cost in costs)
    m = max(cost.shape[1] for cost in costs)
    rows, columns = np.meshgrid(np.arange(1, n + 1), np.arange(1, m + 1), indexing="ij")
    cost = np.zeros((len(costs), n + m + 1, n + 1))  # cost[:, i + j, i] of cell (i, j)
    for b, one in enumerate(costs):
        r, c = rows[: one.shape[0], : one.shape[1]], columns[: one.shape[0], : one.shape[1]]
        cost[b, r + c, r] = one
    total = np.full((len(costs), n + m + 1, n + 1), np.inf)
    total[:, 0, 0] = 0.0
    trace = np.full((len(costs), n + m + 1, n + 1), LEFT, dtype=np.int8)
    for d in range(2, n + m + 1):  # cells (i, j) of the padded table with i + j = d
        lo, hi = max(1, d - m), min(n, d - 1)  # the rows of its cells with i, j >= 1
        diagonal = total[:, d - 2, lo - 1 : hi]  # (i - 1, j - 1)
        up = total[:, d - 1, lo - 1 : hi]  # (i - 1, j)
        left = total[:, d - 1, lo : hi + 1]  # (i, j - 1)
        step = np.where(
            (diagonal < up) & (diagonal < left),
            DIAGONAL,
            np.where((up < diagonal) & (up < left), UP, LEFT),
        )
        total[:, d, lo : hi + 1] = cost[:, d, lo : hi + 1] + np.choose(step, (diagonal, up, left))
        trace[:, d, lo : hi + 1] = step
    return [_backtrace(trace[b], one.shape[0], one.shape[1]) for b, one in enumerate(costs)]


def _backtrace(trace: np.ndarray, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The skewed trace ([i + j, i]: the step into cell (i, j)) of an (n, m) cost matrix ->
    the path's (rows, columns) from the start."""
    i, j = n, m
    rows, columns = [], []
    while i > 0 or j > 0:
        rows.append(i - 1)
        columns.append(j - 1)
        # Along the table's edges the only way back is straight.
        step = LEFT if i == 0 else UP if j == 0 else trace[i + j, i]
        if step == DIAGONAL:
            i, j = i - 1, j - 1
        elif step == UP:
            i -= 1
        else:
            j -= 1
    return np.array(rows[::-1], dtype=np.int64), np.array(columns[::-1], dtype=np.int64)
