"""Delegated connections (SHARENA_FD) live until their holder closes them,
not until the broker's --hello-timeout (DESIGN 10); when the broker did
close one, the error says so. A private broker runs with --hello-timeout 1
and the child first uses its connection 2.5 s later. The delegation itself
is made by build/tests/support/sharena-test-delegate (the C library's
sharena_delegate, which the Python API does not expose)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sharena

from conftest import Broker

ROOT = Path(__file__).resolve().parents[2]


def _delegator() -> str:
    path = os.environ.get("SHARENA_TEST_DELEGATE") or str(
        ROOT / "build" / "tests" / "support" / "sharena-test-delegate")
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built (the C build makes it)")
    return path


@pytest.fixture
def short_broker():
    b = Broker("--hello-timeout", "1")
    yield b
    b.stop()


def _child(b: Broker, name: str, code: str, **kw) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "SHARENA_FD"}
    env["SHARENA_SOCKET"] = os.path.join(b.dir, "not-this-one.sock")  # SHARENA_FD wins
    env["SHARENA_AUTOSTART"] = "0"
    return subprocess.Popen([_delegator(), b.socket, name, "--", sys.executable, "-c",
                             textwrap.dedent(code)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def test_child_starting_after_the_hello_timeout_is_served(short_broker):
    a = sharena.open("late", create=True, socket=short_broker.socket)
    a.map("m")["n"] = 42
    child = _child(short_broker, "late", """
        import time, sharena
        time.sleep(2.5)  # later than the broker's HELLO timeout of 1 s
        a = sharena.open("late")  # through SHARENA_FD
        m = a.map("m")
        print(m["n"], flush=True)
        m["n"] = 43
        a.close()
    """)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.strip() == "42.0"
    assert a.map("m")["n"] == 43
    a.close()


def test_connection_closed_by_the_broker_says_so(short_broker):
    a = sharena.open("closing", create=True, socket=short_broker.socket)
    a.close()
    child = _child(short_broker, "closing", """
        import sys, sharena
        print("ready", flush=True)  # the delegation is made
        sys.stdin.readline()  # until the broker has stopped
        try:
            sharena.open("closing")
        except sharena.Error as e:
            print(type(e).__name__, e.errname, isinstance(e, sharena.BrokerError), flush=True)
            print(e, flush=True)
        else:
            print("opened", flush=True)
    """, stdin=subprocess.PIPE)
    ready = child.stdout.readline()
    assert ready.strip() == "ready", child.stderr.read()
    assert short_broker.stop() == 0
    out, err = child.communicate("go\n", timeout=60)
    assert child.returncode == 0, err
    first, message = out.splitlines()[:2]
    assert first == "BrokerError EDROPPED True"
    assert message.startswith("the broker closed this delegated connection: "), message
    assert "exited or restarted" in message
    assert "no broker is listening" not in message
