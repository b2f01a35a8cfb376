"""`PoolBase`: the 0.1.x subclassing API (`do_session_create` / `do_session_destory`) over `Pool`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from ._pool import Pool

__all__ = ["PoolBase"]

T = TypeVar("T")


class PoolBase(Pool[T]):
    """Subclass and override `do_session_create` (and usually `do_session_destory`).

    ``args`` and ``kwargs`` are passed to every `do_session_create` call; every other keyword is
    an option of `Pool` (``timeout``, ``max_lifetime``, ...). Override `do_session_check` to check
    an idle session before it is handed out, and `do_session_reset` to clean one up when it comes
    back; raising from either means the session is destroyed.
    """

    def __init__(
        self,
        pool_size: int,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if isinstance(args, (str, bytes)) or (args is not None and not isinstance(args, Iterable)):
            raise TypeError(f"args must be an iterable of positional arguments or None, got {args!r}")
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise TypeError(f"kwargs must be a mapping of keyword arguments or None, got {kwargs!r}")
        self.create_args: tuple[Any, ...] = tuple(args or ())
        self.create_kwargs: dict[str, Any] = dict(kwargs or {})
        cls = type(self)
        if options.pop("ping_test", False) and "check" not in options:
            options["check"] = _ping  # 0.1.x option: ping() every idle session before use
        if "check" not in options and cls.do_session_check is not PoolBase.do_session_check:
            options["check"] = self.do_session_check
        if "reset" not in options and cls.do_session_reset is not PoolBase.do_session_reset:
            options["reset"] = self.do_session_reset
        options.setdefault("name", f"{cls.__name__}-{id(self):x}")
        super().__init__(pool_size, self._create_session, self.do_session_destroy, **options)

    def _create_session(self) -> T:
        return self.do_session_create(*self.create_args, **self.create_kwargs)

    def do_session_create(self, *create_args: Any, **create_kwargs: Any) -> T:
        """Make a session from ``args`` and ``kwargs``. Subclasses must override it."""
        raise NotImplementedError(f"{type(self).__name__} must override do_session_create(*args, **kwargs)")

    def do_session_destroy(self, session: T) -> None:
        """Destroy a session. By default calls `do_session_destory` (the 0.1.x spelling)."""
        self.do_session_destory(session)

    def do_session_destory(self, real_session: T) -> None:
        """The 0.1.x name of `do_session_destroy`; override either. Does nothing by default."""

    def do_session_check(self, session: T) -> None:
        """Raise if an idle session is no longer usable. Not called unless overridden."""

    def do_session_reset(self, session: T) -> None:
        """Restore a returned session to a clean state, or raise. Not called unless overridden."""


def _ping(session: Any) -> None:
    ping = getattr(session, "ping", None)
    if ping is not None:
        ping()
