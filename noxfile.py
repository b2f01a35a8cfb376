"""Nox sessions: ``nox`` runs them all; ``nox -s tests-3.12``, ``nox -s docs`` run one.

* ``tests-3.10`` ... ``tests-3.13``: install ``.[test]``, plus the MySQL, PostgreSQL and Redis
  drivers that tests/test_mysql.py and tests/test_recipes.py use, into a fresh virtualenv of that
  Python and run pytest; arguments after ``--`` go to pytest (``nox -s tests-3.12 -- -x -k fork``).
  An interpreter that is not installed is *skipped*, never an error, and nox never downloads one.
* ``docs``: build the documentation site with ``mkdocs build --strict``.

Interpreters are found on PATH as ``python3.X``. pyenv's shims answer only for the selected
version, so the real ``~/.pyenv/versions/3.X.*/bin/python3.X`` of every installed version is put on
PATH (through a directory of symlinks, leaving ``python3`` alone); ``.ci/pythons.sh`` does the same
for shell scripts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["tests", "docs"]
nox.options.error_on_missing_interpreters = False  # skip absent Pythons, also when CI is set
if hasattr(nox.options, "download_python"):  # nox >= 2025: never fetch an interpreter
    nox.options.download_python = "never"
nox.options.reuse_existing_virtualenvs = True

#: Drivers of the server tests besides the MySQL ones (psycopg, redis: tests/test_recipes.py).
SERVICE_DRIVERS = ["-r", "tests/requirements-services.txt"]


def _works(python: str) -> bool:
    try:
        done = subprocess.run([python, "-c", ""], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in path.name.split("."))


def _expose_pyenv_pythons() -> None:
    """Put pyenv's interpreters for PYTHONS on PATH when ``python3.X`` doesn't already run."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if not root.is_dir():
        return
    links = Path(tempfile.gettempdir()) / f"pooling-pythons-{os.getuid()}"
    added = False
    for version in PYTHONS:
        name = f"python{version}"
        found = shutil.which(name)
        if found and _works(found):
            continue
        candidates = sorted(root.glob(f"{version}.*"), key=_version_key, reverse=True)
        for candidate in candidates:
            target = candidate / "bin" / name
            if target.is_file() and _works(str(target)):
                links.mkdir(exist_ok=True)
                link = links / name
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to(target)
                added = True
                break
    if added and str(links) not in os.environ["PATH"].split(os.pathsep):
        os.environ["PATH"] = f"{links}{os.pathsep}{os.environ['PATH']}"


if hasattr(os, "getuid"):  # POSIX: pyenv layout
    _expose_pyenv_pythons()


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite on one Python version."""
    session.install(".[test,pymysql,mysql-connector]", *SERVICE_DRIVERS)
    # mysqlclient (the `mysql` extra) compiles against libmariadb-dev + pkg-config
    # (.ci/mariadb.sh installs them); without them its tests skip, or fail when
    # POOLING_REQUIRE_SERVICES=1, rather than the whole session failing here.
    session.install("mysqlclient>=2.1", success_codes=[0, 1])
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session  # the Python nox runs on
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly (warnings are errors) into site/."""
    session.install("-r", "docs/requirements.txt")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})
