"""Files read ahead of the model by worker threads, in a bounded queue, so the model never
waits for media decoding and at most a batch of chunks waits in memory."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path


def read_in_threads(
    sources: list[Path], read: Callable[[int, Path], Iterator], workers: int, depth: int
) -> Iterator:
    """Items of all files, read by `workers` threads, at most `depth` waiting at a time."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    next_file = iter(enumerate(sources))
    lock = threading.Lock()
    stop = threading.Event()
    finished = object()

    def work():
        try:
            while not stop.is_set():
                with lock:
                    job = next(next_file, None)
                if job is None:
                    return
                for item in read(*job):
                    while not stop.is_set():
                        try:
                            items.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
        finally:
            items.put(finished)

    # Each thread reads under the caller's data.media.decoding rules (its own copy of them).
    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True)
        for _ in range(workers)
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = items.get()
            if item is finished:
                running -= 1
            else:
                yield item
    finally:
        stop.set()  # the consumer stopped early (error, Ctrl-C): let the threads end
        while any(t.is_alive() for t in threads):
            try:
                items.get(timeout=0.1)
            except queue.Empty:
                pass
