"""One version everywhere, and a clear error between protocol versions.

The package, the C library in the extension, sharena.h and the broker
report one release; a client meeting a broker of another protocol version
is told both versions (by the library, from the broker's reply header), and
the broker answers a client of another version with an ERROR that names
both before it drops the connection."""
import re
import socket
import struct
import subprocess
import threading
from pathlib import Path

import pytest

import sharena
from conftest import _sharenad

ROOT = Path(__file__).resolve().parents[2]
MAGIC = 0x414E4853
HDR = struct.Struct("<IHHII")  # magic, version, type, length, seq
HELLO, ERROR = 1, 14
OUR_PROTOCOL = int(re.search(r"#define SHARENA__PROTO_VERSION (\d+)",
                             (ROOT / "lib" / "src" / "proto.h").read_text()).group(1))


def header_version():
    text = (ROOT / "lib" / "include" / "sharena.h").read_text()
    return ".".join(re.search(r"^#define SHARENA_VERSION_%s (\d+)$" % p, text, re.M).group(1)
                    for p in ("MAJOR", "MINOR", "PATCH"))


def test_one_version_everywhere():
    v = header_version()
    assert sharena.__version__ == v
    assert sharena._sharena.LIBRARY_VERSION == v
    out = subprocess.run([_sharenad(), "--version"], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("sharenad %s (protocol %d)" % (v, OUR_PROTOCOL)), out
    cli = Path(_sharenad()).parent.parent / "tools" / "sharena"
    if cli.exists():
        out = subprocess.run([str(cli), "--version"], capture_output=True, text=True,
                             check=True).stdout
        assert out.strip() == "sharena " + v
    pyproject = (ROOT / "python" / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject  # setup.py reads sharena.h


def test_a_broker_of_another_protocol_is_named(tmp_path):
    """A fake broker that answers HELLO in protocol OUR+1."""
    path = str(tmp_path / "other.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(60)

    def serve():
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(60)
            hello = conn.recv(4096)
            seq = HDR.unpack_from(hello)[4]
            text = b"from the future".ljust(128, b"\0")
            body = struct.pack("<iI", -71, 0) + text
            conn.send(HDR.pack(MAGIC, OUR_PROTOCOL + 1, ERROR, HDR.size + len(body), seq) + body)
            conn.recv(4096)  # until the client closes

    t = threading.Thread(target=serve)
    t.start()
    try:
        with pytest.raises(sharena.Error) as e:
            sharena.connect(path)
        msg = str(e.value)
        assert "protocol %d" % (OUR_PROTOCOL + 1) in msg, msg
        assert "protocol %d" % OUR_PROTOCOL in msg, msg
        assert sharena.__version__ in msg, msg
    finally:
        srv.close()
        t.join(timeout=60)
    assert not t.is_alive()


def test_the_broker_names_both_versions(broker):
    """A client of protocol OUR-1 says HELLO to the real broker."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(60)
    with s:
        s.connect(broker.socket)
        old = OUR_PROTOCOL - 1
        s.send(HDR.pack(MAGIC, old, HELLO, 32, 1) + struct.pack("<QII", 0, 0, 0))
        reply = s.recv(4096)
        magic, version, typ, length, seq = HDR.unpack_from(reply)
        assert (magic, version, typ, length, seq) == (MAGIC, OUR_PROTOCOL, ERROR, len(reply), 1)
        code, _pad = struct.unpack_from("<iI", reply, HDR.size)
        text = reply[HDR.size + 8:].split(b"\0", 1)[0].decode()
        assert code == -71  # SHARENA_EPROTO
        assert "protocol %d" % OUR_PROTOCOL in text and "protocol %d" % old in text, text
        assert s.recv(4096) == b""  # then it drops the connection
    with open(broker.log, encoding="utf-8") as f:
        assert re.search(r"speaks protocol %d, this broker .* protocol %d" % (old, OUR_PROTOCOL),
                         f.read())
