"""The kill -9 storm in Python, with reads (issue 20).

Four Python writers share a map of 64 keys: they set strings, floats and
small nested dicts, delete keys and read keys with m.get(k); one writer at a
time is SIGKILLed every 20-80 ms and replaced. Two readers (one of them on a
read-only mapping) only read. Any read error, whatever its kind, fails the
test: a read must never report damage that is not there, nor give up while
writers are merely busy or dying. Afterwards fsck finds the arena sound.

$SHARENA_STORM_SECONDS sets the length (default 10 s).
"""
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path


WORKER = str(Path(__file__).with_name("storm_worker.py"))
SECONDS = float(os.environ.get("SHARENA_STORM_SECONDS") or 10)
WRITERS = 4
STABLE = 8


def _spawn(role, name, seed, wfd):
    return subprocess.Popen([sys.executable, WORKER, role, name, str(seed), str(wfd)],
                            pass_fds=(wfd,))


def test_storm_reads_never_fail(arena, name):
    m = arena.map("m")
    for i in range(STABLE):
        m[f"stable{i}"] = float(i)
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    print(f"storm: seed {seed}, {SECONDS} s")
    errors, reads, buf = [], 0, b""
    kills = 0

    def drain():
        nonlocal buf, reads
        while True:
            try:
                chunk = os.read(rfd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace")
                if text.startswith("R "):
                    reads += int(text[2:])
                elif text:
                    errors.append(text)

    writers = [_spawn("writer", name, seed + w, wfd) for w in range(WRITERS)]
    readers = [_spawn(role, name, seed + 100 + i, wfd)
               for i, role in enumerate(("reader", "roreader"))]
    try:
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            select.select([rfd], [], [], rng.uniform(0.02, 0.08))
            drain()
            w = rng.randrange(WRITERS)
            writers[w].send_signal(signal.SIGKILL)
            rc = writers[w].wait()
            if rc != -signal.SIGKILL:
                errors.append(f"writer exited by itself with {rc}")
            kills += 1
            writers[w] = _spawn("writer", name, seed + 1000 * kills + w, wfd)
    finally:
        for p in writers:
            p.kill()
            p.wait()
        for p in readers:
            p.send_signal(signal.SIGTERM)
        for p in readers:
            try:
                rc = p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
            if rc != 0:
                errors.append(f"reader exited with {rc}")
        os.close(wfd)
        os.set_blocking(rfd, True)
        drain()
        os.close(rfd)
    print(f"storm: {kills} kills, {reads} reads, {len(errors)} errors")
    assert kills > 0 and reads > 0
    assert errors == [], "\n".join(errors[:20])
    # nothing was damaged: fsck agrees, and a fresh process works
    report = arena.fsck()
    assert report["ok"], report["problems"]
    for i in range(STABLE):
        assert m[f"stable{i}"] == float(i)
    m["after"] = "the storm"
    assert m["after"] == "the storm"
