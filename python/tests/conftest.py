"""Fixtures: a private sharenad per test session, and a fresh arena per test.

The broker is the real one: $SHARENA_SHARENAD, else build/broker/sharenad of
this checkout. Every test gets its own arena name and SHARENA_SOCKET points
at the private broker, so child processes find it too.
"""
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import sharena

ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count()


def _sharenad() -> str:
    path = os.environ.get("SHARENA_SHARENAD") or str(ROOT / "build" / "broker" / "sharenad")
    if not os.access(path, os.X_OK):
        pytest.exit(f"sharenad not found at {path}: run scripts/bootstrap.sh first", 2)
    return path


class Broker:
    def __init__(self, *args: str) -> None:
        self.dir = tempfile.mkdtemp(prefix="sharena-py.")
        self.socket = os.path.join(self.dir, "broker.sock")
        # its log goes to a file here (a pipe nobody reads would fill up)
        self.log = os.path.join(self.dir, "broker.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [_sharenad(), "--foreground", "--socket", self.socket, *args],
                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 30  # a hang guard, not a timing check
        while True:
            if self.proc.poll() is not None:
                with open(self.log, encoding="utf-8", errors="replace") as f:
                    raise RuntimeError("sharenad exited: " + f.read())
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.connect(self.socket)
                s.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("sharenad did not come up")
                time.sleep(0.01)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


@pytest.fixture(scope="session")
def broker():
    b = Broker()
    old = os.environ.get("SHARENA_SOCKET")
    os.environ["SHARENA_SOCKET"] = b.socket
    os.environ["SHARENA_AUTOSTART"] = "0"
    yield b
    if old is None:
        os.environ.pop("SHARENA_SOCKET", None)
    else:
        os.environ["SHARENA_SOCKET"] = old
    assert b.stop() == 0, "sharenad did not shut down cleanly"


@pytest.fixture
def name(broker) -> str:
    return f"py.{os.getpid()}.{next(_names)}"


@pytest.fixture
def arena(broker, name):
    a = sharena.open(name, create=True, capacity=16 << 20)
    yield a
    try:
        a.delete()
    except sharena.Error:
        pass
    a.close()
