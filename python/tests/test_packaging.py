"""The package builds as a wheel and installs into a fresh virtual
environment (typed: py.typed and the extension's .pyi ship with it)."""
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(os.environ.get("SHARENA_SKIP_PACKAGING") == "1", reason="asked to skip")
def test_wheel_builds_and_installs_in_a_fresh_venv(tmp_path):
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(PKG)], check=True)
    wheels = list(out.glob("sharena-*.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "sharena/py.typed" in names and "sharena/_sharena.pyi" in names
    assert any(n.startswith("sharena/_sharena") and n.endswith(".so") for n in names)
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", str(wheels[0])], check=True)
    code = ("import sharena; a = sharena.local(1 << 20); m = a.map('m'); m['k'] = 'v'; "
            "assert m['k'] == 'v'; print(sharena.__version__)")
    r = subprocess.run([str(py), "-c", code], check=True, capture_output=True, text=True,
                       cwd=str(tmp_path))
    assert r.stdout.strip() == "0.1.0"
