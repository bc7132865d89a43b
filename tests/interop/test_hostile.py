"""Hostile peer across languages (issue 9): a client with write access
scribbles random bytes over a live arena (header counters, allocator, lock
words, live-slot bitmap, handle table, heap) while a C, a Node and a Python
process read and write it. Each peer may get sharena errors (counted by
code) or stale data, never a signal, a hang, or a non-library exception.
Afterwards the broker still serves a fresh client, `sharena dump` answers,
`sharena fsck` reports the damage, `sharena fsck --repair --break-locks`
leaves an arena that checks clean, and every language creates and reads new
objects in it.

Seeds: $SHARENA_HOSTILE_SEED (default 9001; the scribbler prints it, peer i
uses seed + 1 + i); length: $SHARENA_HOSTILE_SECONDS (default 10).
Run: python -m pytest -s tests/interop/test_hostile.py (-s shows the counts).
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from test_interop import LANGS, ROOT, _exe, command, private_sharenad

SEED = int(os.environ.get("SHARENA_HOSTILE_SEED", "9001"))
SECONDS = float(os.environ.get("SHARENA_HOSTILE_SECONDS", "10"))
WATCHDOG = 60  # seconds past the end of scribbling before a peer counts as hung


@pytest.fixture
def private_broker():
    """A sharenad of its own (the test checks that it survives)."""
    with private_sharenad("sharena-hostile.") as (env, proc):
        yield env, proc


def backtrace(pid):
    """Where a hung process waits (gdb's backtrace, when gdb is around)."""
    gdb = shutil.which("gdb")
    if not gdb:
        return "(no gdb for a backtrace)"
    r = subprocess.run([gdb, "-p", str(pid), "-batch", "-ex", "thread apply all bt 20"],
                       capture_output=True, text=True, timeout=60)
    return "\n".join(line for line in r.stdout.splitlines() if line.startswith(("#", "Thread")))


def finish(name, p, deadline):
    """Wait for @p p under the watchdog; fail on a hang, a signal, a status
    that looks like one, or a non-zero exit (an uncaught exception)."""
    try:
        out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        where = backtrace(p.pid)
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"{name} hung (seed {SEED}): killed after the watchdog\n{err}\n{where}")
    assert p.returncode >= 0, f"{name} killed by signal {-p.returncode} (seed {SEED})\n{err}"
    assert p.returncode < 128, f"{name} exited {p.returncode} (seed {SEED})\n{err}"
    assert p.returncode == 0, f"{name} failed (seed {SEED}):\n{out}\n{err}"
    return out


def cli(env, *args):
    exe = os.environ.get("SHARENA_CLI") or str(ROOT / "build" / "tools" / "sharena")
    r = subprocess.run([exe, *args], env=env, capture_output=True, text=True,
                       timeout=WATCHDOG)
    assert 0 <= r.returncode < 128, f"sharena {' '.join(args)}: status {r.returncode}\n{r.stderr}"
    return r


def run_ok(env, lang, *args):
    p = subprocess.Popen(command(lang, *args), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    return finish(f"{lang} {' '.join(args)}", p, time.monotonic() + WATCHDOG)


def test_scribbled_text_is_reported_not_raised_as_a_decode_error(private_broker):
    """Text that is not UTF-8 can only come from a scribbler (the library
    validates it on write): Python raises a sharena.Error (EncodingError,
    EILSEQ), not a bare UnicodeDecodeError; Node shows U+FFFD for the bad
    byte."""
    env, _ = private_broker
    arena = "hostile.text"
    run_ok(env, "py", "hostile-init", arena)  # creates it
    scribble = _exe("SHARENA_INTEROP_SCRIBBLE",
                    ROOT / "build" / "tests" / "interop" / "interop_scribble")
    r = subprocess.run([scribble, "badtext", arena], env=env, capture_output=True, text=True,
                       timeout=WATCHDOG)
    assert r.returncode == 0 and r.stdout.strip() == "OK", r.stderr
    out = json.loads(run_ok(env, "py", "badtext", arena))
    assert out.keys() == {"str", "keys", "items"}, out
    assert all(v in ("EILSEQ", "ECORRUPT") for v in out.values()), out
    out = json.loads(run_ok(env, "node", "badtext", arena))
    assert out["str"] == "\ufffd" + "sharena-text-mark-0123456789"[1:], out
    key = "\ufffd" + "sharena-key-mark-0123456789"[1:]
    assert out["keys"] == [key] and out["items"] == {key: 1}, out


def test_scribbler_vs_c_node_python_peers(private_broker):
    env, broker = private_broker
    arena = "hostile"
    run_ok(env, "py", "hostile-init", arena)
    peers = {lang: subprocess.Popen(command(lang, "hostile", arena, str(SECONDS), str(SEED + 1 + i)),
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
             for i, lang in enumerate(LANGS)}
    scribbler = subprocess.Popen(
        [_exe("SHARENA_INTEROP_SCRIBBLE", ROOT / "build" / "tests" / "interop" / "interop_scribble"),
         arena, str(SECONDS), str(SEED)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + SECONDS + WATCHDOG
    scribbled = json.loads(finish("scribbler", scribbler, deadline))
    print(f"\nscribbler: {scribbled}")
    assert scribbled["seed"] == SEED and scribbled["writes"] > 0
    for lang, p in peers.items():
        result = json.loads(finish(f"{lang} peer", p, deadline).strip().splitlines()[-1])
        print(f"{lang} peer: {result}")
        assert result["ops"] > 0, (lang, result)

    # The broker is unaffected: it still serves a fresh client.
    assert broker.poll() is None, "sharenad died"
    assert run_ok(env, "py", "fresh", "hostile.bystander", "py").strip() == "OK"
    assert "hostile.bystander" in cli(env, "ls").stdout

    # Tools answer on the scribbled arena (an error is fine, a hang is not).
    dump = cli(env, "dump", arena)
    assert dump.returncode in (0, 1), dump.stderr

    # fsck reports the damage...
    check = cli(env, "--json", "fsck", arena)
    assert check.returncode == 1, f"fsck found nothing (seed {SEED}):\n{check.stdout}"
    if check.stdout.strip():
        report = json.loads(check.stdout)
        assert not report["ok"] and report["problems"], report
        print(f"fsck: {report['errors']} errors, e.g. {report['problems'][:3]}")
    else:  # gave up on a lock a scribbled word keeps (ETIMEDOUT): also a finding
        print(f"fsck: {check.stderr.strip()}")
        assert check.stderr.strip(), "fsck failed without saying why"

    # ...and --repair restores a usable arena: clean, and every language
    # makes new objects in it and reads them back.
    repair = cli(env, "fsck", "--repair", "--break-locks", arena)
    assert repair.returncode == 0, f"repair (seed {SEED}):\n{repair.stdout}\n{repair.stderr}"
    clean = cli(env, "--json", "fsck", arena)
    assert clean.returncode == 0 and json.loads(clean.stdout)["ok"], clean.stdout + clean.stderr
    for lang in LANGS:
        assert run_ok(env, lang, "fresh", arena, lang).strip().endswith("OK")
    for lang in LANGS:  # what one language made, the others read
        assert run_ok(env, lang, "fresh", arena, LANGS[(LANGS.index(lang) + 1) % 3]) \
            .strip().endswith("OK")
    final = cli(env, "--json", "fsck", arena)
    assert final.returncode == 0 and json.loads(final.stdout)["ok"], final.stdout + final.stderr
    assert broker.poll() is None, "sharenad died"
