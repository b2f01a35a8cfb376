#!/usr/bin/env bash
# Build the sdist and wheel, check their metadata, install the wheel into a fresh venv and import it.
#   bash .ci/package-check.sh            (uses python3; PYTHON=python3.12 bash ... for another)
# Installs `build` and `twine` into that Python if they are missing. Artifacts land in dist/.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
DIST="${DIST_DIR:-dist}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! "$PY" -c "import build, twine" 2>/dev/null; then
    echo "== build and twine are not in $PY: installing them into a throwaway venv"
    "$PY" -m venv "$work/tools"
    "$work/tools/bin/python" -m pip install --quiet --disable-pip-version-check build twine
    PY="$work/tools/bin/python"
fi

echo "== build (sdist, then the wheel from the sdist) with $("$PY" --version)"
rm -f "$DIST"/pooling-*.whl "$DIST"/pooling-*.tar.gz
"$PY" -m build --outdir "$DIST" .
shopt -s nullglob
wheels=("$DIST"/pooling-*.whl)
sdists=("$DIST"/pooling-*.tar.gz)
[ "${#wheels[@]}" -eq 1 ] || { echo "expected one wheel in $DIST, found ${#wheels[@]}" >&2; exit 1; }
[ "${#sdists[@]}" -eq 1 ] || { echo "expected one sdist in $DIST, found ${#sdists[@]}" >&2; exit 1; }
wheel="${wheels[0]}"
sdist="${sdists[0]}"

echo "== twine check"
"$PY" -m twine check --strict "$wheel" "$sdist"

echo "== contents"
"$PY" - "$wheel" "$sdist" <<'PYCODE'
import sys, tarfile, zipfile

wheel, sdist = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
assert "pooling/py.typed" in names, f"py.typed missing from {wheel}: {names}"
assert "pooling/__init__.py" in names, f"pooling/__init__.py missing from {wheel}"
stray = [n for n in names if not (n.startswith("pooling/") or ".dist-info/" in n)]
assert not stray, f"unexpected files in the wheel: {stray}"
with tarfile.open(sdist) as tar:
    snames = tar.getnames()
assert any(n.endswith("src/pooling/py.typed") for n in snames), f"py.typed missing from {sdist}"
print(f"wheel: {len(names)} files, py.typed present; sdist: {len(snames)} entries, py.typed present")
PYCODE

echo "== install the wheel into a fresh venv"
"$PY" -m venv "$work/venv"  # a venv of the same Python version
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
cd "$work"  # not the repo: import the installed package, not src/
"$work/venv/bin/python" - <<'PYCODE'
import importlib.metadata
import pathlib

import pooling

print("pooling", pooling.__version__, "from", pooling.__file__)
assert pooling.__version__ == importlib.metadata.version("pooling"), "__version__ != metadata"
root = pathlib.Path(pooling.__file__).parent
assert "site-packages" in str(root), f"imported from {root}, not the installed wheel"
assert (root / "py.typed").is_file(), f"py.typed missing from the installed package at {root}"
from pooling import (  # the public API imports from the wheel alone
    DestroyReason, Lease, LeaseReleased, Pool, PoolBase, PoolClosed, PoolError, PoolExhausted,
    PoolStats, PoolTimeout,
)

with Pool(2, object) as pool, pool.get_session() as session:
    assert type(session) is object
print("package check: OK")
PYCODE
