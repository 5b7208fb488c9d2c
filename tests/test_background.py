"""Work beside the pipeline: its value or its error reaches the caller, and on Linux it runs
at the lowest priority so that the model's threads keep their cores."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from app.background import LowPriorityCall
from data.media import MediaError


def test_the_value_comes_back_and_the_thread_runs_at_the_lowest_priority():
    def niceness():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    call = LowPriorityCall(niceness)
    if sys.platform.startswith("linux"):
        assert call.result() == 19
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) != 19  # the caller's own


def test_an_error_reaches_the_caller():
    def fail(path):
        raise MediaError(path, "truncated or corrupt video data")

    with pytest.raises(MediaError, match="clip.mp4: truncated"):
        LowPriorityCall(fail, "clip.mp4").result()
