"""The finalizer thread: where a lease dropped without `close()` is given back when that takes
more than the lock-free fast path.

`Lease.__del__` can run during any garbage-collection pass, in any thread, at any point of that
thread: inside the pool's own critical sections, or inside the caller's, holding locks of the
caller's (a driver's, a logging handler's). So a finalizer must neither wait for a lock nor run
code that might: no `reset`, no hook, no destroyer. It publishes the session idle (a lock-free
deque append) when nothing else is to be done, and otherwise hands the release to this thread,
which does it the ordinary way. `queue.SimpleQueue.put` is documented as safe to call from
`__del__` and from within a garbage collection.

One daemon thread per process, started with the first pool (never from a finalizer), and started
again in a forked child, where the parent's thread does not exist.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["defer", "ensure_started", "flush"]

logger = logging.getLogger("pooling")

_Job = tuple[Callable[..., object], tuple[Any, ...]]


def _run(jobs: queue.SimpleQueue[_Job]) -> None:
    while True:
        func, args = jobs.get()
        try:
            func(*args)
        except BaseException:  # a job's failure must not end the thread that serves every pool
            logger.exception("pooling finalizer: giving a dropped lease back failed")
        del func, args


class _Finalizer:
    """The process's finalizer thread and its queue of jobs."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.start_lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the thread if it is not running (every new pool calls this; cheap once started)."""
        if self.thread is not None:
            return
        with self.start_lock:
            if self.thread is None:
                thread = threading.Thread(
                    target=_run, args=(self.jobs,), name="pooling-finalizer", daemon=True
                )
                thread.start()
                self.thread = thread

    def defer(self, func: Callable[..., object], *args: Any) -> None:
        """Run ``func(*args)`` on the finalizer thread. Safe to call from ``__del__``."""
        self.jobs.put((func, args))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every job deferred so far has run (tests use it); False on timeout."""
        self.ensure_started()
        done = threading.Event()
        self.defer(done.set)
        return done.wait(timeout)

    def after_fork_in_child(self) -> None:
        # The parent's thread does not exist here, and its queue may hold the parent's jobs
        # (returns of the parent's sessions, which the child must not touch): start afresh.
        self.reset()
        self.ensure_started()


_FINALIZER = _Finalizer()
ensure_started = _FINALIZER.ensure_started
defer = _FINALIZER.defer
flush = _FINALIZER.flush

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_FINALIZER.after_fork_in_child)
