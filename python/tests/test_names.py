"""Names on a shared broker (docs/security.md, "Names on a shared broker"):
``arena.created``, ``owner_uid``, ``mode`` and ``qualified_name`` say what an
open found; a plain name is the caller's own, ``"user:name"`` reaches another
user's; a create-or-open never hands over an arena that is not what was
asked; the broker's policy file can share a plain name. The other-uid cases
run a child as ``nobody`` and need root (and a checkout nobody can read);
they are skipped otherwise. Each test starts a broker of its own."""
import json
import os
import pickle
import subprocess
import sys
import tempfile

import pytest

import sharena
from conftest import Broker

NOBODY = 65534


@pytest.fixture
def own_broker():
    b = Broker()
    os.chmod(b.dir, 0o755)  # let nobody reach the socket
    yield b
    assert b.stop() == 0


# nobody's interpreter: this one, or (when nobody cannot run it, e.g. a
# pyenv under /root) the system's of the same version, finding this sharena
# through PYTHONPATH
_ENV = {**os.environ, "SHARENA_AUTOSTART": "0",
        "PYTHONPATH": os.path.dirname(os.path.dirname(sharena.__file__))}


def _nobody_python():
    if os.getuid() != 0:
        return None
    v = sys.version_info
    for exe in (sys.executable, f"/usr/bin/python{v.major}.{v.minor}"):
        try:
            r = subprocess.run([exe, "-c", "import sharena"], user=NOBODY,
                               group=NOBODY, extra_groups=[], cwd="/",
                               env=_ENV, capture_output=True, timeout=60)
        except OSError:
            continue
        if r.returncode == 0:
            return exe
    return None


NOBODY_PYTHON = _nobody_python()
needs_nobody = pytest.mark.skipif(
    NOBODY_PYTHON is None,
    reason="needs root and a Python and checkout nobody can read (runs a "
           "child as nobody)")


def as_nobody(code: str, socket: str) -> dict:
    """Run ``code`` (which prints one JSON document) as nobody."""
    prog = "import json, sharena\nsocket = %r\n%s" % (socket, code)
    r = subprocess.run([NOBODY_PYTHON, "-c", prog], user=NOBODY, group=NOBODY,
                       extra_groups=[], cwd="/", capture_output=True, text=True,
                       env=_ENV, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_own_name_reports_created_owner_mode(own_broker):
    s = own_broker.socket
    with sharena.open("cfg", create=True, mode=0o640, socket=s) as a:
        assert a.created is True
        assert a.owner_uid == os.getuid() and a.owner_gid == os.getgid()
        assert a.mode == 0o640
        assert a.qualified_name == f"{os.getuid()}:cfg"
        with sharena.open("cfg", create=True, mode=0o640, socket=s) as b:
            assert b.created is False
        with sharena.open(a.qualified_name, socket=s) as c:
            assert c.created is False and c.mode == 0o640
    loc = sharena.local()
    assert loc.created is True and loc.qualified_name is None
    assert loc.owner_uid == os.geteuid()
    loc.close()


def test_create_asking_another_mode_is_refused(own_broker):
    s = own_broker.socket
    with sharena.open("m", create=True, mode=0o640, socket=s):
        with pytest.raises(sharena.ExistsError) as e:
            sharena.open("m", create=True, mode=0o600, socket=s)
        assert "mode 0640" in str(e.value) and "(create=False)" in str(e.value)
        assert "mode 0640" in e.value.broker_message
        with pytest.raises(sharena.ExistsError) as e:
            sharena.open("m", create=True, exclusive=True, socket=s)
        assert "without exclusive=True" in str(e.value)
        with sharena.open("m", create=True, socket=s) as b:  # no mode asked
            assert b.created is False
        with sharena.open("m", mode=0o600, socket=s) as c:  # no create
            assert c.mode == 0o640
        with pytest.raises(sharena.ArenaNotFoundError):
            sharena.open("no_such_user_zz:m", socket=s)
        with pytest.raises(ValueError):
            sharena.open("a:b:c", socket=s)


@needs_nobody
def test_plain_names_are_per_user_qualified_reach_the_owner(own_broker):
    s = own_broker.socket
    out = as_nobody("""
a = sharena.open("app-cfg", create=True, mode=0o600, socket=socket)
a.map("cfg")["mine"] = 7
print(json.dumps([a.created, a.owner_uid, a.mode]))""", s)
    assert out == [True, NOBODY, 0o600]
    # root: no app-cfg of its own; the error says how to reach nobody's
    with pytest.raises(sharena.ArenaNotFoundError) as e:
        sharena.open("app-cfg", socket=s)
    assert "65534:app-cfg" in str(e.value)
    # root's create-or-open with mode 0600: a new arena of root's own
    with sharena.open("app-cfg", create=True, mode=0o600, socket=s) as mine:
        assert mine.created is True and mine.owner_uid == 0
        mine.map("cfg")["secret"] = 42
        out = as_nobody("""
a = sharena.open("app-cfg", create=True, mode=0o600, socket=socket)
print(json.dumps([a.created, a.owner_uid, dict(a.map("cfg"))]))""", s)
        assert out == [False, NOBODY, {"mine": 7}], "root's secret stays root's"
        # qualified: root opens nobody's, told whose it is
        with sharena.open("nobody:app-cfg", socket=s) as theirs:
            assert theirs.created is False
            assert theirs.owner_uid == NOBODY and theirs.owner == "nobody"
            assert theirs.mode == 0o600
            assert theirs.qualified_name == "65534:app-cfg"
            assert theirs.stat()["uid"] == NOBODY  # the broker's record of it
            assert dict(theirs.map("cfg")) == {"mine": 7}
            # pickled, it reopens nobody's arena, not root's own app-cfg
            r = subprocess.run(
                [sys.executable, "-c",
                 "import pickle, sys, sharena\n"
                 "a = pickle.loads(sys.stdin.buffer.read())\n"
                 "print(a.owner_uid, dict(a.map('cfg')))"],
                input=pickle.dumps(theirs), capture_output=True, env=_ENV,
                timeout=120)
            assert r.returncode == 0, r.stderr
            assert r.stdout.decode().split(" ", 1)[0] == str(NOBODY)
        with pytest.raises(sharena.ExistsError) as e:
            sharena.open("65534:app-cfg", create=True, socket=s)
        assert "uid 65534" in str(e.value)
        with pytest.raises(sharena.AccessError) as e:
            sharena.open("65534:fresh", create=True, socket=s)
        assert "only uid 65534 may create it" in str(e.value)
    out = as_nobody("""
r = {}
for key, name, create in (("read", "root:app-cfg", False), ("create", "0:fresh", True)):
    try:
        sharena.open(name, create=create, socket=socket)
    except sharena.AccessError as e:
        r[key] = e.errname
print(json.dumps(r))""", s)
    assert out == {"read": "EACCES", "create": "EACCES"}


@needs_nobody
def test_policy_shares_a_plain_name():
    with tempfile.NamedTemporaryFile("w", prefix="sharena-py-policy.",
                                     delete=False) as f:
        f.write("root:pub.* nobody ro\n")
    try:
        b = Broker("--policy", f.name)
    finally:
        os.unlink(f.name)
    try:
        os.chmod(b.dir, 0o755)
        with sharena.open("pub.cfg", create=True, mode=0o600,
                          socket=b.socket) as a:
            a.map("cfg")["x"] = 5
            out = as_nobody("""
a = sharena.open("pub.cfg", socket=socket)
r = [a.created, a.owner_uid, a.readonly, dict(a.map("cfg"))]
try:
    sharena.open("pub.cfg", create=True, socket=socket)
except sharena.ExistsError as e:
    r.append(e.errname)
own = sharena.open("nobody:pub.cfg", create=True, socket=socket)
r.append([own.created, own.owner_uid])
print(json.dumps(r))""", b.socket)
            assert out == [False, 0, True, {"x": 5}, "EEXIST", [True, NOBODY]]
    finally:
        assert b.stop() == 0
