"""`Lease[T]`: the proxy `Pool.get_session()` hands out.

A lease owns one session until it is released, by `close()`, by the exit of a `with` block, or by
dropping the last reference to it (`__del__`). Release is "pop the entry from the lease's one-element
list, and if there was one, give the session back": `list.pop` is atomic, which makes release
idempotent even across threads, and a half-built lease's finalizer harmless. The lease knows its
pool only through one narrow call, its `_give_back`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast

from ._errors import LeaseReleased

if TYPE_CHECKING:
    from ._pool import DestroyReason, _Entry

__all__ = ["Lease"]

T = TypeVar("T")


class _Owner(Protocol):
    """What a lease needs of its pool."""

    @property
    def name(self) -> str: ...

    _discard_on: Callable[[BaseException], bool] | None


class Lease(Generic[T]):
    """A session borrowed from a pool, and the right to use it until released.

    Attribute reads and writes are forwarded to the session, so a lease can stand in for it
    (``lease.cursor()``, ``lease.autocommit = True``). ``with pool.get_session() as conn:`` binds
    the session itself (typed ``T``) and releases it when the block exits. After release, the
    session belongs to the pool again: `session` and forwarded attributes raise `LeaseReleased`.

    A lease is meant to be used by one thread at a time; it may be released from any thread.
    """

    __slots__ = ("_held",)

    #: ``[entry]`` while held, ``[]`` once released. Release pops it: ``list.pop`` is atomic, so
    #: two threads releasing the same lease at once give the session back exactly once.
    _held: list[_Entry[T]]
    #: The pool, and its give-back method: class attributes of the pool's own subclass of Lease
    #: (see Pool.__init__), which spares a field per lease and a method binding per release.
    _pool: ClassVar[_Owner]

    def _give_back(self, entry: _Entry[Any], reason: DestroyReason | None, blocking: bool = True) -> None:
        """Stands for the pool's ``_give_back``, bound in the pool's subclass."""
        raise NotImplementedError

    def __init__(self) -> None:  # pragma: no cover - leases are made by the pool only
        raise TypeError("leases are handed out by Pool.get_session(), not made directly")

    # -- the session ---------------------------------------------------------------------------

    def _released(self, doing: str) -> LeaseReleased:
        return LeaseReleased(f"{self!r}: cannot {doing}, the lease was released")

    @property
    def session(self) -> T:
        """The session itself; raises `LeaseReleased` once the lease was released."""
        try:
            return self._held[0].session
        except IndexError:
            raise self._released("get its session") from None

    @property
    def released(self) -> bool:
        """True once the session went back to the pool (or was destroyed)."""
        return not self._held

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not the lease's own: forward them to the session.
        if name == "_held" or name[:2] == "__":
            # "_held": the slot is unset (a half-built lease): never recurse. Dunders are probed
            # by dir(), copy, pickle and friends: they are the lease's business, not forwarded.
            raise AttributeError(name)
        try:
            session = self._held[0].session
        except IndexError:
            raise self._released(f"get attribute {name!r}") from None
        return getattr(session, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in Lease.__slots__:
            object.__setattr__(self, name, value)
            return
        try:
            session = self._held[0].session
        except IndexError:
            raise self._released(f"set attribute {name!r}") from None
        setattr(session, name, value)

    def __delattr__(self, name: str) -> None:
        try:
            session = self._held[0].session
        except IndexError:
            raise self._released(f"delete attribute {name!r}") from None
        delattr(session, name)

    def __dir__(self) -> list[str]:
        own = set(super().__dir__())
        held = self._held
        if held:
            own.update(dir(held[0].session))
        return sorted(own)

    # -- release -------------------------------------------------------------------------------

    def close(self) -> None:
        """Give the session back to the pool. Idempotent: a second call does nothing."""
        try:
            entry = self._held.pop()
        except IndexError:
            return
        self._give_back(entry, None)

    release = close

    def invalidate(self) -> None:
        """Destroy the session instead of giving it back (it is broken or in an unknown state).

        Idempotent; on a released lease it does nothing.
        """
        try:
            entry = self._held.pop()
        except IndexError:
            return
        from ._pool import DestroyReason  # local: _pool imports this module

        self._give_back(entry, DestroyReason.INVALIDATED)

    def __enter__(self) -> T:
        try:
            return self._held[0].session
        except IndexError:
            raise self._released("enter it") from None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            entry = self._held.pop()
        except IndexError:
            return
        if exc is not None and self._pool._discard_on is not None:
            self._exit_with_error(entry, exc)
        else:
            self._give_back(entry, None)

    def _exit_with_error(self, entry: _Entry[T], exc: BaseException) -> None:
        from ._pool import DestroyReason

        discard_on = self._pool._discard_on
        assert discard_on is not None
        try:
            discard = bool(discard_on(exc))
        except Exception:  # a broken predicate must not hide the block's own error
            discard = False
        self._give_back(entry, DestroyReason.INVALIDATED if discard else None)

    def __del__(self) -> None:
        # May run in any thread, during a garbage-collection pass, even while this thread holds
        # the pool's lock: _give_back(..., blocking=False) never blocks on that lock.
        try:
            held = self._held
        except AttributeError:  # half-built: nothing to give back
            return
        if held:
            try:
                self._give_back(held.pop(), None, False)
            except Exception:  # pragma: no cover - interpreter shutdown, or popped meanwhile
                pass

    def __copy__(self) -> Lease[T]:
        raise TypeError("a Lease cannot be copied: a copy would be a second claim on one session")

    def __deepcopy__(self, memo: object) -> Lease[T]:
        raise TypeError("a Lease cannot be copied: a copy would be a second claim on one session")

    def __reduce_ex__(self, protocol: object) -> Any:
        raise TypeError("a Lease cannot be pickled: its session belongs to this process's pool")

    def __repr__(self) -> str:
        try:
            held = self._held
            pool = self._pool
        except AttributeError:  # pragma: no cover - half-built
            return "<Lease (unbound)>"
        if not held:
            return f"<Lease released, pool={pool.name!r}>"
        try:
            # The session's own repr may hold secrets (a DSN, a password): show its type only.
            kind = type(held[0].session).__qualname__
        except IndexError:  # released meanwhile
            return f"<Lease released, pool={pool.name!r}>"
        return f"<Lease of {kind} from pool={pool.name!r}>"


# Slot setters, bypassing the forwarding __setattr__ on the hot path.
_set_held: Callable[[Lease[Any], Any], None] = cast(Any, Lease.__dict__["_held"]).__set__
_new_lease = object.__new__
