"""A forked child does not keep its dead parent's lock held (DESIGN 10).

A parent process holds ``with m.locked():`` and has a child made by
``os.fork()`` or by ``multiprocessing`` with the fork start method (Process
or Pool) that never touches sharena. The parent is killed with SIGKILL
while the child lives on: the broker must see the parent go (the child's
copy of its broker connection was closed at fork), so that a third
process's write completes while the child still lives, and ``sharena
locks`` lists nothing held afterwards. The write gets a hang guard of 10 s
(without the fork handler it blocked until the child exited)."""
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What the parent does; each variant prints "child PID" from the child and
# "ready" once the parent holds the lock with its child alive.
_PARENT = """
import multiprocessing as mp, os, sys, time
import sharena

def say(line):  # one write: the parent and its child share the pipe
    os.write(1, (line + "\\n").encode())

def hold():
    say(f"child {{os.getpid()}}")
    time.sleep(600)

a = sharena.open({name!r}, socket={socket!r})
m = a.map("m")
how = {how!r}
if how == "fork-before":
    if os.fork() == 0:
        hold()
        os._exit(0)
    with m.locked():
        m["x"] = "written under the lock"
        say("ready")
        time.sleep(600)
elif how == "fork-inside":
    with m.locked():
        m["x"] = "written under the lock"
        if os.fork() == 0:
            hold()
            os._exit(0)
        say("ready")
        time.sleep(600)
elif how == "process":
    ctx = mp.get_context("fork")
    with m.locked():
        m["x"] = "written under the lock"
        p = ctx.Process(target=hold)
        p.start()
        say("ready")
        time.sleep(600)
elif how == "pool":
    ctx = mp.get_context("fork")
    pool = ctx.Pool(2)
    for w in pool._pool:  # for the test's cleanup
        say(f"worker {{w.pid}}")
    with m.locked():
        m["x"] = "written under the lock"
        r = pool.apply_async(hold)
        say("ready")
        time.sleep(600)
"""

_WRITER = """
import sharena
a = sharena.open({name!r}, socket={socket!r})
m = a.map("m")
m["after"] = "written by a third process"
assert m["after"] == "written by a third process"
assert m["x"] == "written under the lock"
print("wrote", flush=True)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _lines(proc: subprocess.Popen):
    """The lines of proc's stdout, with a hang guard of 60 s in all."""
    deadline = time.monotonic() + 60
    fd = proc.stdout.fileno()
    buf = b""
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode()
        left = deadline - time.monotonic()
        assert left > 0, "no line from the parent within 60 s"
        if select.select([fd], [], [], left)[0]:
            data = os.read(fd, 4096)
            assert data, f"the parent ended early ({proc.wait()})"
            buf += data


def _cli() -> str:
    return os.environ.get("SHARENA_CLI") or str(ROOT / "build" / "tools" / "sharena")


@pytest.mark.parametrize("how", ["fork-before", "fork-inside", "process", "pool"])
def test_killed_parent_child_lives_lock_recovered(arena, broker, how):
    arena.map("m")
    code = textwrap.dedent(_PARENT).format(name=arena.name, socket=broker.socket, how=how)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    child = None
    others = []
    try:
        ready = False
        lines = _lines(parent)
        while child is None or not ready:
            line = next(lines)
            if line.startswith("child "):
                child = int(line.split()[1])
            elif line.startswith("worker "):
                others.append(int(line.split()[1]))
            elif line.strip() == "ready":
                ready = True
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _alive(child), "the child lives on after its parent's death"

        writer = subprocess.run(
            [sys.executable, "-c",
             textwrap.dedent(_WRITER).format(name=arena.name, socket=broker.socket)],
            capture_output=True, text=True, timeout=10)  # a hang guard
        assert writer.returncode == 0, writer.stderr
        assert writer.stdout.strip() == "wrote"
        assert _alive(child), "the child still lives"
        if os.access(_cli(), os.X_OK):
            out = subprocess.run([_cli(), "--socket", broker.socket, "--json", "locks", arena.name],
                                 capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            assert json.loads(out.stdout) == [], "nothing is held afterwards"
        assert arena.map("m")["after"] == "written by a third process"
        assert arena.fsck()["ok"]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in [child] + others:
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGKILL)
        parent.stdout.close()
