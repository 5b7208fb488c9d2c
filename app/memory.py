"""Returning the heap's free pages to the system between the model's phases.

glibc keeps freed pages, and the next phase's tensors rarely fit the holes, so without this
each batch's word alignment peaks above its beam search and the resident memory creeps up
batch after batch on long files (README, Memory).
"""

from __future__ import annotations

import ctypes


def _libc_malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to call
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def return_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc only; elsewhere nothing)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
