"""pooling: pool anything. Database connections, HTTP sessions, clients of any kind.

    from pooling import Pool

    pool = Pool(10, create_factory=make_connection, destroy_factory=lambda c: c.close())
    with pool.get_session() as conn:   # conn is the connection itself, typed
        ...

The public API is what ``__all__`` lists; every other module is private.
"""

from ._base import PoolBase
from ._errors import LeaseReleased, PoolClosed, PoolError, PoolExhausted, PoolTimeout
from ._lease import Lease
from ._pool import DestroyReason, Pool
from ._stats import PoolStats
from ._version import __version__

__all__ = [
    "DestroyReason",
    "Lease",
    "LeaseReleased",
    "Pool",
    "PoolBase",
    "PoolClosed",
    "PoolError",
    "PoolExhausted",
    "PoolStats",
    "PoolTimeout",
    "__version__",
]
