"""Work beside the pipeline: the text on screen while the speech is found, the picture's cuts
on spare CPU time while the model decodes."""

from __future__ import annotations

import contextvars
import os
import sys
import threading
from collections.abc import Callable


class BackgroundCall:
    """`function(*args)` run at once in a thread; `result()` waits for it and returns its
    value or raises its exception."""

    nice = 0  # the thread's scheduling priority on Linux (19: only when a core is free)

    def __init__(self, function: Callable, *args):
        self._value, self._error = None, None
        context = contextvars.copy_context()  # under the caller's data.media.decoding rules

        def run():
            if self.nice and sys.platform.startswith("linux"):  # elsewhere: not the thread's id
                try:
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
                except OSError:
                    pass
            try:
                self._value = context.run(function, *args)
            except BaseException as error:  # handed to the caller of result()
                self._error = error

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class LowPriorityCall(BackgroundCall):
    """A BackgroundCall the OS schedules only when a core is free (Linux: nice 19 for that
    thread alone), so that it fills the moments the model leaves a core idle instead of
    halving the speed of the model's parallel loops."""

    nice = 19
