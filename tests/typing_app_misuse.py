"""Deliberate misuse: mypy --strict must reject it (tests/test_core_typing.py). Not run."""

from __future__ import annotations

from typing_app import make_conn

from pooling import Pool


def misuse() -> int:
    pool = Pool(10, create_factory=make_conn)
    with pool.get_session() as conn:
        number: int = conn  # MISUSE: a Conn is not an int
    return number
