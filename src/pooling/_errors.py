"""The exceptions raised by pooling; all of them are PoolError."""

from __future__ import annotations

import queue

__all__ = ["LeaseReleased", "PoolClosed", "PoolError", "PoolExhausted", "PoolTimeout"]


class PoolError(Exception):
    """Base class of every error the pool raises itself."""


class PoolTimeout(PoolError, TimeoutError, queue.Empty):
    """No session could be had within the caller's timeout (also a `queue.Empty`, as in 0.1.x)."""


class PoolClosed(PoolError):
    """The pool was closed: it hands out no more sessions."""


class PoolExhausted(PoolError):
    """Too many callers are already waiting (`max_waiting`): rejected at once."""


class LeaseReleased(PoolError):
    """The lease was already released: its session belongs to the pool again."""
