"""The package as a user gets it: an sdist that builds on its own outside
the repository, a wheel repaired to a manylinux tag that carries the broker
and the CLI, installed into a fresh virtual environment in an empty
directory with a minimal PATH (no build tree, no other sharenad). There a
named arena opens with autostart, the broker that started is the wheel's
own, the wheel's `sharena` command lists the arena and stops the broker,
and every part reports the same version (typed: py.typed and the
extension's .pyi ship with it)."""
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1]
ROOT = PKG.parent


def header_version():
    text = (ROOT / "lib" / "include" / "sharena.h").read_text()
    return ".".join(re.search(r"^#define SHARENA_VERSION_%s (\d+)$" % p, text, re.M).group(1)
                    for p in ("MAJOR", "MINOR", "PATCH"))


def run(args, **kw):
    # bounded: a pipe that stays open (a daemon holding it) fails, not hangs
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900, **kw)
    assert r.returncode == 0, "%s\n%s%s" % (" ".join(map(str, args)), r.stdout, r.stderr)
    return r.stdout


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(os.environ.get("SHARENA_SKIP_PACKAGING") == "1", reason="asked to skip")
def test_sdist_wheel_install_autostart_cli(tmp_path):
    version = header_version()

    # 1. The sdist, unpacked outside the repository, is what the wheel is
    #    built from (as `python -m build` does): it must be self-contained.
    run([sys.executable, "setup.py", "-q", "sdist", "-d", tmp_path / "sdist"], cwd=PKG)
    (tgz,) = (tmp_path / "sdist").glob("sharena-*.tar.gz")
    assert tgz.name == "sharena-%s.tar.gz" % version
    with tarfile.open(tgz) as t:
        names = t.getnames()
        for sub in ("_lib/include/sharena.h", "_lib/src/client.c", "_broker/main.c",
                    "_cli/main.c", "src/sharena/_commands.py"):
            assert "sharena-%s/%s" % (version, sub) in names, sub
        t.extractall(tmp_path / "unpacked")
    src = tmp_path / "unpacked" / ("sharena-%s" % version)
    assert not (src.parent.parent / "lib").exists()
    env = dict(os.environ)
    env.pop("SHARENA_SHARENAD", None)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", tmp_path / "dist", src], cwd=tmp_path, env=env)
    (wheel,) = (tmp_path / "dist").glob("sharena-*.whl")

    # 2. auditwheel: the wheel needs nothing outside the manylinux policy
    #    (libseccomp and libbsd are linked statically); repair retags it.
    aw = [sys.executable, "-m", "auditwheel"]
    if subprocess.run(aw + ["--help"], capture_output=True).returncode != 0:
        pytest.fail("auditwheel is not installed here (scripts/setup-python.sh installs it)")
    aw_env = dict(os.environ, PATH="%s:%s" % (Path(sys.executable).parent, os.environ["PATH"]))
    shown = run(aw + ["show", wheel], env=aw_env)
    tag = re.search(r'"(manylinux_\d+_\d+_x86_64)"', shown)
    assert tag, shown
    run(aw + ["repair", "--plat", tag.group(1), "-w", tmp_path / "repaired", wheel], env=aw_env)
    (wheel,) = (tmp_path / "repaired").glob("sharena-*.whl")
    assert wheel.name.startswith("sharena-%s-" % version) and tag.group(1) in wheel.name, wheel.name
    z = zipfile.ZipFile(wheel)
    names = z.namelist()
    assert "sharena/py.typed" in names and "sharena/_sharena.pyi" in names
    assert any(n.startswith("sharena/_sharena") and n.endswith(".so") for n in names)
    for prog in ("sharena/sharenad", "sharena/sharena"):
        assert (z.getinfo(prog).external_attr >> 16) & stat.S_IXUSR, prog + " is not executable"
    assert not any(n.startswith("sharena.libs/") for n in names), "auditwheel grafted libraries"

    # 3. A fresh environment in an empty directory, a minimal PATH.
    home = tmp_path / "user"
    home.mkdir()
    envdir = home / "venv"
    venv.create(envdir, with_pip=True)
    bindir = envdir / "bin"
    py = bindir / "python"
    path = "%s:/usr/bin:/bin" % bindir
    for d in ("/usr/bin", "/bin"):
        assert not os.path.exists(os.path.join(d, "sharenad")), "a sharenad in " + d
    run([py, "-m", "pip", "install", "-q", "--no-index", wheel], cwd=home)
    sock_dir = home / "run"
    sock_dir.mkdir()
    user_env = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8",
                "SHARENA_SOCKET": str(sock_dir / "broker.sock")}
    site = Path(run([py, "-c", "import sharena, os; print(os.path.dirname(sharena.__file__))"],
                    cwd=home, env=user_env).strip())
    assert site.is_relative_to(envdir), site
    assert shutil.which("sharenad", path=path) == str(bindir / "sharenad")
    assert shutil.which("sharena", path=path) == str(bindir / "sharena")

    # versions: the package, the library in the extension, the commands
    assert run([py, "-c", "import sharena; print(sharena.__version__)"],
               cwd=home, env=user_env).strip() == version
    assert run(["sharena", "--version"], cwd=home, env=user_env).strip() == "sharena " + version
    assert run(["sharenad", "--version"], cwd=home, env=user_env).startswith(
        "sharenad %s " % version)

    # 4. A named arena with autostart; the broker is the wheel's own.
    code = ("import sharena\n"
            "with sharena.open('pkgtest', create=True) as a:\n"
            "    a.map('m')['k'] = 'v'\n"
            "with sharena.open('pkgtest') as a:\n"
            "    print(a.map('m')['k'])\n")
    pid = None
    try:
        assert run([py, "-c", code], cwd=home, env=user_env).strip() == "v"
        status = json.loads(run(["sharena", "--json", "broker", "status"], cwd=home, env=user_env))
        pid = status["pid"]
        assert os.path.realpath("/proc/%d/exe" % pid) == str((site / "sharenad").resolve())
        # 5. The package's CLI lists the arena, then stops the broker.
        listing = json.loads(run(["sharena", "--json", "ls"], cwd=home, env=user_env))
        assert "pkgtest" in [a["name"] for a in listing], listing
        run(["sharena", "broker", "stop"], cwd=home, env=user_env)
        for _ in range(500):
            if not alive(pid):
                break
            time.sleep(0.01)
        assert not alive(pid), "the broker did not stop"
        pid = None
        assert not (sock_dir / "broker.sock").exists()
    finally:
        if (sock_dir / "broker.sock").exists():  # left by a failed assertion
            subprocess.run([str(bindir / "sharena"), "broker", "stop"], env=user_env,
                           capture_output=True, timeout=60)
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)
