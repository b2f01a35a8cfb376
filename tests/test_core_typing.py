"""The public API is precisely typed: mypy --strict on tests/typing_app.py infers Pool[Conn] and
Conn, and rejects a misuse (tests/typing_app_misuse.py)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
APP = TESTS / "typing_app.py"
MISUSE = TESTS / "typing_app_misuse.py"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")


@pytest.fixture(scope="module")
def mypy_output() -> list[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--show-error-codes",
            "--no-color-output",
            "--no-error-summary",
            str(APP.relative_to(ROOT)),
            str(MISUSE.relative_to(ROOT)),
        ],
        cwd=ROOT,  # the project's mypy.ini applies
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    lines = (result.stdout + result.stderr).splitlines()
    assert result.returncode in (0, 1), "\n".join(lines)
    return lines


def line_of(path: Path, marker: str) -> int:
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if marker in text:
            return number
    raise AssertionError(f"{marker!r} not in {path}")


def revealed(lines: list[str]) -> dict[int, str]:
    found: dict[int, str] = {}
    for line in lines:
        match = re.match(r".*typing_app\.py:(\d+): note: Revealed type is \"(.*)\"", line)
        if match:
            found[int(match.group(1))] = match.group(2)
    return found


def test_revealed_types(mypy_output: list[str]) -> None:
    types = revealed(mypy_output)
    pool_type = types[line_of(APP, "reveal_type(pool)")]
    assert re.fullmatch(r"pooling(\._pool)?\.Pool\[typing_app\.Conn\]", pool_type), pool_type
    assert types[line_of(APP, "reveal_type(conn)")] == "typing_app.Conn"
    assert types[line_of(APP, "reveal_type(pool.get_session().session)")] == "typing_app.Conn"


def test_the_app_type_checks_cleanly(mypy_output: list[str]) -> None:
    errors = [line for line in mypy_output if "typing_app.py:" in line and ": error:" in line]
    assert errors == []
    assert "type: ignore" not in APP.read_text()


def test_a_misuse_is_an_error(mypy_output: list[str]) -> None:
    misuse_line = line_of(MISUSE, "MISUSE")
    errors = [line for line in mypy_output if f"typing_app_misuse.py:{misuse_line}: error:" in line]
    assert errors, "\n".join(mypy_output)
    assert '"Conn"' in errors[0]
    assert '"int"' in errors[0]
    assert "[assignment]" in errors[0]


def test_the_app_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(APP)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
