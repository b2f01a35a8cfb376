"""Misuse: wrong arguments, released leases, closed pools, broken factories and hanging hooks.

Every public argument of `Pool`, `PoolBase`, `Pool.get_session` and `Pool.resize`, given a value of
the wrong type or out of range, raises `TypeError` or `ValueError` naming the argument, and never
anything else (hypothesis generates the constructor options).

A lease cannot be released to another pool: there is no API for it (a lease knows its own pool
only, and `close()`, `invalidate()` and dropping it all give the session back to that pool). The
nearest thing, a lease that outlives its pool's `close()`, destroys its session when it is
released (`DestroyReason.CLOSED`); no other pool is involved.
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pooling import (
    DestroyReason,
    Lease,
    LeaseReleased,
    Pool,
    PoolBase,
    PoolClosed,
    PoolError,
    PoolTimeout,
)

pytestmark = pytest.mark.timeout(120)

# -- the option model --------------------------------------------------------------------------------

NOT_A_NUMBER: list[Any] = ["1", b"1", [1], {}, object(), True, False, 1j, Fraction(1, 2)]
NOT_CALLABLE: list[Any] = [1, "f", b"f", [], {}, object(), 1.5]


class Opt:
    """One option: strategies of valid values and of (invalid value, expected exception) pairs."""

    def __init__(self, valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[tuple[Any, type]]):
        self.valid = valid
        self.invalid = invalid


def _bad(values: list[Any], exc: type[Exception]) -> st.SearchStrategy[tuple[Any, type]]:
    return st.sampled_from(values).map(lambda v: (v, exc))


def _int_opt(minimum: int, maximum: int, allow_none: bool) -> Opt:
    valid: st.SearchStrategy[Any] = st.integers(minimum, maximum)
    if allow_none:
        valid = st.none() | valid
    not_int = [*NOT_A_NUMBER, 1.0, 2.5, math.inf, math.nan]
    if not allow_none:
        not_int.append(None)
    invalid = _bad(not_int, TypeError) | st.integers(max_value=minimum - 1).map(lambda v: (v, ValueError))
    return Opt(valid, invalid)


def _float_opt(
    minimum: float, *, allow_none: bool, exclusive_min: bool = False, below: float | None = None
) -> Opt:
    valid: st.SearchStrategy[Any] = st.floats(
        min_value=minimum,
        max_value=below if below is not None else 1e6,
        exclude_min=exclusive_min,
        exclude_max=below is not None,
        allow_nan=False,
    ) | st.integers(int(math.ceil(minimum)) + int(exclusive_min), 1000 if below is None else int(below) - 1)
    if below is None:
        valid = valid | st.just(math.inf)
    if allow_none:
        valid = st.none() | valid
    not_number = list(NOT_A_NUMBER)
    if not allow_none:
        not_number.append(None)
    too_small = st.floats(max_value=minimum, exclude_max=not exclusive_min, allow_nan=False)
    invalid = (
        _bad(not_number, TypeError)
        | too_small.map(lambda v: (v, ValueError))
        | st.just((math.nan, ValueError))
    )
    if exclusive_min:
        invalid = invalid | st.sampled_from([(0, ValueError), (0.0, ValueError)])
    if below is not None:
        invalid = invalid | st.floats(min_value=below).map(lambda v: (v, ValueError))
    return Opt(valid, invalid)


def _callable_opt() -> Opt:
    return Opt(st.sampled_from([None, repr, lambda *a: None]), _bad(NOT_CALLABLE, TypeError))


OPTIONS: dict[str, Opt] = {
    "timeout": _float_opt(0, allow_none=True),
    "min_idle": _int_opt(0, 3, allow_none=False),
    "max_lifetime": _float_opt(0, allow_none=True, exclusive_min=True),
    "max_idle_time": _float_opt(0, allow_none=True, exclusive_min=True),
    "max_usage": _int_opt(1, 10**6, allow_none=True),
    "check": _callable_opt(),
    "reset": _callable_opt(),
    "destroy_factory": _callable_opt(),
    "name": Opt(st.none() | st.text(max_size=20), _bad([1, b"pool", ["p"], object(), 1.5], TypeError)),
    "check_interval": _float_opt(0, allow_none=False),
    "lifetime_jitter": _float_opt(0, allow_none=False, below=1.0),
    "leak_timeout": _float_opt(0, allow_none=True, exclusive_min=True),
    "max_waiting": _int_opt(0, 10**6, allow_none=False),
    "backoff_initial": _float_opt(0, allow_none=False),
    "backoff_max": _float_opt(0, allow_none=False),
    "on_create": _callable_opt(),
    "on_checkout": _callable_opt(),
    "on_checkin": _callable_opt(),
    "on_destroy": _callable_opt(),
}
POOL_SIZE = _int_opt(1, 10**9, allow_none=False)
CREATE_FACTORY = Opt(st.sampled_from([object, dict, lambda: 1]), _bad([None, *NOT_CALLABLE], TypeError))


@st.composite
def pool_arguments(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, type]]:
    """(keyword arguments of Pool, {name: exception expected} for the invalid ones)."""
    kwargs: dict[str, Any] = {}
    bad: dict[str, type] = {}
    want_bad = draw(st.booleans())
    for name, opt in {"pool_size": POOL_SIZE, "create_factory": CREATE_FACTORY, **OPTIONS}.items():
        required = name in ("pool_size", "create_factory")
        kind = draw(st.sampled_from(["valid", "invalid", "omit"] if want_bad else ["valid", "omit"]))
        if kind == "omit" and not required:
            continue
        if kind == "invalid" and draw(st.integers(0, 3)) == 0:
            kwargs[name], bad[name] = draw(opt.invalid)
        else:
            kwargs[name] = draw(opt.valid)
    # Rules across options.
    size = kwargs["pool_size"]
    if "pool_size" not in bad and "min_idle" not in bad and kwargs.get("min_idle", 0) > size:
        bad["min_idle"] = ValueError
    b_init, b_max = kwargs.get("backoff_initial", 0.05), kwargs.get("backoff_max", 1.0)
    if "backoff_initial" not in bad and "backoff_max" not in bad and b_max < b_init:
        bad["backoff_max"] = ValueError
    if draw(st.integers(0, 9)) == 0:  # both spellings of the destroyer
        kwargs["destory_factory"] = repr
        if kwargs.get("destroy_factory") is not None:
            bad.setdefault("destroy_factory", TypeError)
    return kwargs, bad


def _close_and_settle(pool: Pool[Any]) -> None:
    """Close, and wait (bounded) for creations the maintainer started (min_idle) to end: they
    would otherwise run while hypothesis generates the next example."""
    pool.close()
    deadline = time.monotonic() + 5
    while pool.stats().creating and time.monotonic() < deadline:
        time.sleep(0.001)


def _names_one_of(message: str, names: list[str]) -> bool:
    return any(name.replace("destory", "destroy") in message or name in message for name in names)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_arguments())
def test_pool_options_construct_or_raise_clearly(args: tuple[dict[str, Any], dict[str, type]]) -> None:
    kwargs, bad = args
    if not bad:
        pool = Pool(**kwargs)
        try:
            assert pool.pool_size == kwargs["pool_size"]
            assert pool.timeout == kwargs.get("timeout")
            if "name" in kwargs and kwargs["name"] is not None:
                assert pool.name == kwargs["name"]
            assert pool.stats().size <= pool.pool_size
        finally:
            _close_and_settle(pool)
        return
    with pytest.raises((TypeError, ValueError)) as info:
        Pool(**kwargs).close()
    exc = info.value
    assert type(exc) in (TypeError, ValueError), repr(exc)
    assert _names_one_of(str(exc), list(bad)), f"{exc!r} names none of {sorted(bad)}"
    if len(bad) == 1:
        (expected,) = bad.values()
        assert isinstance(exc, expected), f"{exc!r}, expected {expected.__name__}"


@settings(max_examples=200, deadline=None)
@given(pool_arguments(), st.sampled_from([None, (), [1], ("a", 2)]), st.sampled_from([None, {}, {"k": 1}]))
def test_poolbase_options_construct_or_raise_clearly(
    args: tuple[dict[str, Any], dict[str, type]], create_args: Any, create_kwargs: Any
) -> None:
    kwargs, bad = args
    kwargs = dict(kwargs)
    kwargs.pop("create_factory")
    bad.pop("create_factory", None)
    destroyer = kwargs.pop("destroy_factory", None)
    kwargs.pop("destory_factory", None)
    if bad.get("destroy_factory") and destroyer is not None and not callable(destroyer):
        pass
    bad.pop("destroy_factory", None)  # PoolBase's destroyer is its method: not an option here

    class Made(PoolBase[tuple[Any, ...]]):
        def do_session_create(self, *a: Any, **k: Any) -> tuple[Any, ...]:
            return (a, k)

    if not bad:
        pool = Made(args=create_args, kwargs=create_kwargs, **kwargs)
        try:
            assert pool.create_args == tuple(create_args or ())
            assert pool.create_kwargs == dict(create_kwargs or {})
            with pool.get_session(timeout=5) as session:
                assert session == (pool.create_args, pool.create_kwargs)
        finally:
            _close_and_settle(pool)
        return
    with pytest.raises((TypeError, ValueError)) as info:
        Made(args=create_args, kwargs=create_kwargs, **kwargs).close()
    assert _names_one_of(str(info.value), list(bad)), f"{info.value!r} names none of {sorted(bad)}"


@pytest.mark.parametrize(
    ("options", "exc", "named"),
    [
        ({"args": "abc"}, TypeError, "args"),
        ({"args": b"abc"}, TypeError, "args"),
        ({"args": 5}, TypeError, "args"),
        ({"kwargs": [("a", 1)]}, TypeError, "kwargs"),
        ({"kwargs": "a=1"}, TypeError, "kwargs"),
        ({"no_such_option": 1}, TypeError, "no_such_option"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"pool_size": 0}, ValueError, "pool_size"),
    ],
)
def test_poolbase_bad_arguments(options: dict[str, Any], exc: type[Exception], named: str) -> None:
    options = {"pool_size": 2, **options}
    with pytest.raises(exc, match=named):
        PoolBase(**options)


def test_poolbase_without_do_session_create() -> None:
    pool: PoolBase[Any] = PoolBase(1, backoff_initial=0)
    with pytest.raises(NotImplementedError, match="do_session_create"):
        pool.get_session(timeout=1)
    assert pool.stats().size == 0
    pool.close()


@pytest.mark.parametrize(
    ("args", "exc", "named"),
    [
        ((1, None), TypeError, "create_factory"),
        ((1, 42), TypeError, "create_factory"),
        ((1, object, 42), TypeError, "destroy_factory"),
        ((1, object, repr), None, None),  # the 0.1.x positional destroyer
    ],
)
def test_positional_arguments(args: tuple[Any, ...], exc: type[Exception] | None, named: str | None) -> None:
    if exc is None:
        Pool(*args).close()
        return
    with pytest.raises(exc, match=named):
        Pool(*args)


def test_both_destroyer_spellings() -> None:
    with pytest.raises(TypeError, match="destroy_factory"):
        Pool(1, object, repr, destroy_factory=repr)


def test_a_lease_is_not_made_directly() -> None:
    with pytest.raises(TypeError):
        Lease()


# -- get_session and resize ----------------------------------------------------------------------


@given(
    st.one_of(
        _bad([*NOT_A_NUMBER], TypeError),
        st.floats(max_value=0, exclude_max=True, allow_nan=False).map(lambda v: (v, ValueError)),
        st.integers(max_value=-1).map(lambda v: (v, ValueError)),
        st.just((math.nan, ValueError)),
    )
)
@settings(max_examples=100, deadline=None)
def test_get_session_bad_timeout(bad: tuple[Any, type]) -> None:
    value, exc = bad
    pool: Pool[object] = Pool(1, object)
    try:
        with pytest.raises(exc, match="timeout"):
            pool.get_session(timeout=value)
        assert pool.stats().size == 0  # nothing was reserved
        with pytest.raises(exc, match="timeout"):
            pool.get_session(value)
        pool.get_session(timeout=0).close()  # and the fast path checks it too
        with pytest.raises(exc, match="timeout"):
            pool.get_session(timeout=value)
        assert pool.stats().in_use == 0
    finally:
        pool.close()


@given(st.one_of(st.none(), st.integers(0, 3), st.floats(0, 3), st.just(math.inf)))
@settings(max_examples=50, deadline=None)
def test_get_session_good_timeout(value: float | None) -> None:
    pool: Pool[object] = Pool(1, object)
    try:
        pool.get_session(timeout=value).close()
    finally:
        pool.close()


@pytest.mark.parametrize("where", ["get_session", "pool default"])
@pytest.mark.parametrize("value", [1e10, 1e300, float(2**63)])
def test_huge_timeout_waits_like_forever(where: str, value: float) -> None:
    """A timeout too long for the platform's lock (threading.TIMEOUT_MAX, about 292 years) is a
    valid number: the caller waits, as with None; it does not get an OverflowError."""
    pool: Pool[object] = Pool(1, object, timeout=value if where == "pool default" else None)
    held = pool.get_session()
    outcome: list[Any] = []

    def wait() -> None:
        try:
            lease = pool.get_session() if where == "pool default" else pool.get_session(timeout=value)
            outcome.append(lease.session)
            lease.close()
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    deadline = time.monotonic() + 5
    while pool.stats().waiting == 0 and waiter.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    session = held.session
    held.close()
    waiter.join(5)
    pool.close()
    assert outcome == [session], outcome


@pytest.mark.parametrize(
    ("value", "exc"),
    [
        (0, ValueError),
        (-3, ValueError),
        (1.5, TypeError),
        (2.0, TypeError),
        (True, TypeError),
        ("2", TypeError),
        (None, TypeError),
        ([2], TypeError),
    ],
)
def test_resize_bad_size(value: Any, exc: type[Exception]) -> None:
    pool: Pool[object] = Pool(2, object)
    with pytest.raises(exc, match="pool_size"):
        pool.resize(value)
    assert pool.pool_size == 2
    pool.close()


def test_resize_below_min_idle() -> None:
    pool: Pool[object] = Pool(4, object, min_idle=3)
    with pytest.raises(ValueError, match="min_idle"):
        pool.resize(2)
    assert pool.pool_size == 4
    pool.resize(3)
    assert pool.pool_size == 3
    pool.close()


@given(st.lists(st.integers(1, 8), min_size=1, max_size=6))
@settings(max_examples=50, deadline=None)
def test_resize_good_sizes(sizes: list[int]) -> None:
    pool: Pool[object] = Pool(3, object)
    leases = [pool.get_session(timeout=0) for _ in range(3)]
    for n in sizes:
        pool.resize(n)
        assert pool.pool_size == n
    for lease in leases:
        lease.close()
    st_ = pool.stats()
    assert st_.size <= sizes[-1] and st_.in_use == 0
    pool.close()


# -- released leases and closed pools ------------------------------------------------------------


class Thing:
    def __init__(self) -> None:
        self.value = 1

    def hello(self) -> str:
        return "hi"


@pytest.mark.parametrize("how", ["close", "release", "invalidate", "with", "destroy_all"])
def test_a_lease_used_after_release(how: str) -> None:
    pool: Pool[Thing] = Pool(1, Thing)
    lease = pool.get_session()
    assert lease.hello() == "hi" and lease.value == 1
    if how == "with":
        with lease as thing:
            assert thing.hello() == "hi"
    elif how == "destroy_all":
        pool.destroy_all_sessions()  # the leased session is dropped when released...
        assert lease.value == 1  # ...but the lease still works until then
        lease.close()
    else:
        getattr(lease, how)()
    assert lease.released
    with pytest.raises(LeaseReleased):
        lease.session  # noqa: B018
    with pytest.raises(LeaseReleased):
        lease.hello()
    with pytest.raises(LeaseReleased):
        lease.value  # noqa: B018
    with pytest.raises(LeaseReleased):
        lease.value = 2
    with pytest.raises(LeaseReleased):
        del lease.value
    with pytest.raises(LeaseReleased), lease:
        pass
    assert isinstance(LeaseReleased("x"), PoolError)
    lease.close()  # idempotent
    lease.invalidate()  # a no-op on a released lease
    repr(lease)
    dir(lease)
    st_ = pool.stats()
    assert st_.in_use == 0 and st_.size <= 1
    pool.close()


def test_a_lease_outliving_its_pool_is_destroyed_on_release() -> None:
    """The nearest thing to releasing a lease to another pool: its own pool is closed first."""
    destroyed: list[tuple[str, Any, DestroyReason]] = []
    a: Pool[Thing] = Pool(2, Thing, on_destroy=lambda s, r: destroyed.append(("a", s, r)))
    b: Pool[Thing] = Pool(2, Thing, on_destroy=lambda s, r: destroyed.append(("b", s, r)))
    lease = a.get_session()
    session = lease.session
    in_b = b.get_session()
    in_b.close()
    a.close()
    assert destroyed == []  # still leased
    assert lease.hello() == "hi"  # and still usable until released
    lease.close()
    assert destroyed == [("a", session, DestroyReason.CLOSED)]
    assert (a.stats().size, a.stats().destroyed) == (0, 1)
    st_b = b.stats()
    assert (st_b.size, st_b.idle, st_b.destroyed) == (1, 1, 0)  # b never saw it
    b.close()


def test_a_lease_dropped_after_its_pool_closed() -> None:
    destroyed: list[Any] = []
    pool: Pool[Thing] = Pool(1, Thing, destroy_factory=destroyed.append)
    lease = pool.get_session()
    session = lease.session
    pool.close()
    del lease
    gc.collect()
    assert destroyed == [session]
    assert pool.stats().size == 0


def test_a_closed_pool() -> None:
    made: list[Any] = []

    def factory() -> Thing:
        made.append(1)
        return Thing()

    pool: Pool[Thing] = Pool(2, factory)
    pool.get_session().close()
    pool.close()
    pool.close()  # idempotent
    assert pool.closed
    for timeout in (None, 0, 0.5):
        with pytest.raises(PoolClosed, match=repr(pool.name)):
            pool.get_session(timeout=timeout)
    with pytest.raises(PoolClosed):
        pool.get_session()
    pool.destroy_all_sessions()
    pool.resize(3)
    st_ = pool.stats()
    assert (st_.size, st_.idle, st_.in_use, st_.waiting) == (0, 0, 0, 0)
    assert len(made) == 1  # nothing was made after close
    assert "closed" in repr(pool)


def test_with_block_closes_the_pool() -> None:
    with Pool(1, Thing) as pool:
        pool.get_session().close()
    assert pool.closed
    with pytest.raises(PoolClosed):
        pool.get_session(timeout=0)


def test_close_wakes_waiters_with_pool_closed() -> None:
    pool: Pool[Thing] = Pool(1, Thing)
    held = pool.get_session()
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            pool.get_session(timeout=None)
        except BaseException as exc:
            errors.append(exc)

    waiters = [threading.Thread(target=wait) for _ in range(3)]
    for t in waiters:
        t.start()
    deadline = time.monotonic() + 5
    while pool.stats().waiting < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    pool.close()
    for t in waiters:
        t.join(5)
    assert len(errors) == 3 and all(isinstance(e, PoolClosed) for e in errors), errors
    held.close()
    assert pool.stats().size == 0


# -- broken factories and hanging hooks ---------------------------------------------------------


def test_a_factory_returning_none() -> None:
    results: list[Any] = [None, None]

    def factory() -> Any:
        return results.pop() if results else Thing()

    pool: Pool[Any] = Pool(1, factory, backoff_initial=0.01, backoff_max=0.02)
    with pytest.raises(PoolError, match="None") as info:
        pool.get_session(timeout=1)
    assert not isinstance(info.value, PoolTimeout)
    assert pool.stats().size == 0  # no lost slot
    with pytest.raises(PoolError, match="None"):
        pool.get_session(timeout=1)
    st_ = pool.stats()
    assert (st_.size, st_.create_errors, st_.created) == (0, 2, 0)
    lease = pool.get_session(timeout=2)  # after the back-off, the factory works again
    assert isinstance(lease.session, Thing)
    lease.close()
    assert pool.stats().size == 1
    pool.close()


def _wait_for(predicate: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


@pytest.mark.parametrize("how", ["invalidate", "destroy_all_sessions", "max_usage", "close"])
def test_a_hanging_destroyer_blocks_only_its_caller(how: str) -> None:
    """The destroyer runs in the thread that releases (or discards, or closes): while it hangs,
    that thread is stuck, but the pool answers everyone else: sessions from the other slots, or a
    timeout on time. The hanging session keeps its slot until the destroyer returns, then the slot
    goes to the oldest waiter."""
    gate = threading.Event()
    entered = threading.Event()
    victims: list[Thing] = []

    def destroyer(session: Thing) -> None:
        if session in victims:
            entered.set()
            assert gate.wait(30)

    pool: Pool[Thing] = Pool(2, Thing, destroy_factory=destroyer, max_usage=1 if how == "max_usage" else None)
    victim = pool.get_session()
    victims.append(victim.session)
    if how == "destroy_all_sessions":
        victim.close()  # idle: destroy_all_sessions destroys it in the calling thread
        stuck = threading.Thread(target=pool.destroy_all_sessions)
    elif how == "close":
        victim.close()
        stuck = threading.Thread(target=pool.close)
    elif how == "max_usage":
        stuck = threading.Thread(target=victim.close)  # used up: destroyed on return
    else:
        stuck = threading.Thread(target=victim.invalidate)
    stuck.start()
    try:
        assert entered.wait(5)
        # Others are not blocked: stats and repr answer, and so does get_session.
        start = time.monotonic()
        st_ = pool.stats()
        repr(pool)
        if how == "close":
            with pytest.raises(PoolClosed):
                pool.get_session(timeout=1)
            assert time.monotonic() - start < 1
            return
        assert st_.size == 1, st_  # the hanging one still holds its slot
        other = pool.get_session(timeout=1)  # the free slot
        start = time.monotonic()
        with pytest.raises(PoolTimeout):
            pool.get_session(timeout=0.2)  # none free: a timeout, on time
        assert time.monotonic() - start < 1.5
        # A waiter queued now gets the slot as soon as the destroyer returns.
        got: list[Any] = []
        waiter = threading.Thread(target=lambda: got.append(pool.get_session(timeout=10)))
        waiter.start()
        _wait_for(lambda: pool.stats().waiting == 1)
        gate.set()
        waiter.join(5)
        assert len(got) == 1 and isinstance(got[0].session, Thing), got
        got[0].close()
        other.close()
        stuck.join(5)
        assert not stuck.is_alive()
        st_ = pool.stats()
        assert (st_.in_use, st_.waiting, st_.destroyed) == (0, 0, 3 if how == "max_usage" else 1), st_
        leases = [pool.get_session(timeout=1) for _ in range(2)]  # no lost slot
        for lease in leases:
            lease.close()
    finally:
        gate.set()
        stuck.join(5)
        pool.close()


@pytest.mark.parametrize("hook", ["create_factory", "check", "reset"])
def test_a_hanging_hook_blocks_only_its_caller(hook: str) -> None:
    gate = threading.Event()
    entered = threading.Event()
    calls = {"n": 0}

    def maybe_hang(*_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            entered.set()
            assert gate.wait(30)

    def factory() -> Thing:
        if hook == "create_factory":
            maybe_hang()
        return Thing()

    options: dict[str, Any] = {}
    if hook in ("check", "reset"):
        options[hook] = maybe_hang
    pool: Pool[Thing] = Pool(2, factory, check_interval=0, **options)
    if hook == "create_factory":
        stuck = threading.Thread(target=lambda: pool.get_session(timeout=30).close())
    elif hook == "check":
        pool.get_session().close()  # idle: the next checkout checks it
        stuck = threading.Thread(target=lambda: pool.get_session(timeout=30).close())
    else:
        lease = pool.get_session()
        stuck = threading.Thread(target=lease.close)  # the reset runs here
    stuck.start()
    try:
        assert entered.wait(5)
        other = pool.get_session(timeout=1)
        start = time.monotonic()
        with pytest.raises(PoolTimeout):
            pool.get_session(timeout=0.2)
        assert time.monotonic() - start < 1.5
        other.close()
        gate.set()
        stuck.join(5)
        assert not stuck.is_alive()
        st_ = pool.stats()
        assert (st_.in_use, st_.waiting) == (0, 0), st_
        leases = [pool.get_session(timeout=1) for _ in range(2)]
        for lease in leases:
            lease.close()
    finally:
        gate.set()
        stuck.join(5)
        pool.close()


def test_hooks_may_call_back_into_the_pool() -> None:
    """Hooks run outside the pool's lock: one that calls the pool does not deadlock."""
    seen: list[Any] = []
    pool: Pool[Thing]

    def peek(*_: Any) -> None:
        seen.append(pool.stats().size)
        seen.append(repr(pool))

    def destroy(_: Thing) -> None:
        peek()
        try:
            pool.get_session(timeout=0).close()
        except PoolError:
            pass

    pool = Pool(
        2,
        Thing,
        destroy_factory=destroy,
        check=peek,
        reset=peek,
        on_create=peek,
        on_checkout=peek,
        on_checkin=peek,
        on_destroy=peek,
        check_interval=0,
    )
    done = threading.Event()

    def run() -> None:
        for _ in range(3):
            pool.get_session().close()
        pool.get_session().invalidate()
        pool.destroy_all_sessions()
        pool.close()
        done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert done.wait(10), "a hook calling into the pool deadlocked"
    assert seen
