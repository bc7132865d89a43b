"""Finding the broker is one rule, in lib/ (issue 15: the CLI had its own
find_sharenad and spoke HELLO itself): with no $SHARENA_SOCKET, C, Node,
Python and the command-line tool look for the per-user broker at one
default socket ($XDG_RUNTIME_DIR/sharena/broker.sock here); the first to
open an arena starts the broker there and the others meet it. Each
language adds 1 to one counter (mode hammer, one after the other), then
the CLI, given no --socket, finds that one broker and reads 3."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from test_interop import LANGS, ROOT, _exe, command


def test_every_language_and_the_cli_meet_on_the_default_broker():
    d = tempfile.mkdtemp(prefix="sharena-find-")
    os.chmod(d, 0o700)
    env = {k: v for k, v in os.environ.items()
           if k not in ("SHARENA_SOCKET", "SHARENA_FD", "SHARENA_AUTOSTART")}
    env["XDG_RUNTIME_DIR"] = d
    env["SHARENA_SHARENAD"] = _exe("SHARENA_SHARENAD", ROOT / "build" / "broker" / "sharenad")
    cli = _exe("SHARENA_CLI", ROOT / "build" / "tools" / "sharena")
    sock = os.path.join(d, "sharena", "broker.sock")
    pid = None
    try:
        for lang in LANGS:
            p = subprocess.run(command(lang, "hammer", "meet", "1", lang), env=env,
                               capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, f"{lang}: {p.stderr}"
        st = subprocess.run([cli, "--json", "broker", "status"], env=env,
                            capture_output=True, text=True, timeout=60)
        assert st.returncode == 0, st.stderr
        status = json.loads(st.stdout)
        pid = status.get("pid")
        assert status["socket"] == sock and status["running"], status
        got = subprocess.run([cli, "get", "meet", "count"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert got.returncode == 0, got.stderr
        assert got.stdout.strip() == "3"
    finally:
        subprocess.run([cli, "broker", "stop"], env=env, capture_output=True, timeout=60)
        if pid:
            for _ in range(300):  # a hang guard: 30 s
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)
