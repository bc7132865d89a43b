"""The type stubs agree with the runtime: Shape.fields against what the
extension returns, and mypy --strict accepts a sample program (when mypy is
installed in the test environment; scripts/setup-python.sh does not install
it, so CI skips that part)."""
import ast
import os
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest

import sharena

STUB = Path(sharena.__file__).with_name("_sharena.pyi")


def _stub_annotation(cls: str, attr: str):
    tree = ast.parse(STUB.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == attr:
                    return eval(compile(ast.Expression(item.returns), str(STUB), "eval"),
                                vars(typing))
    raise AssertionError(f"{cls}.{attr} is not in {STUB}")


def _conforms(value, tp) -> bool:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return isinstance(value, list) and all(_conforms(v, args[0]) for v in value)
    if origin is tuple:
        return (isinstance(value, tuple) and len(value) == len(args)
                and all(_conforms(v, t) for v, t in zip(value, args)))
    return isinstance(value, tp)


def test_shape_fields_stub_matches_runtime(arena):
    shape = arena.shape({"name": "string", "score": "number", "ok": "bool", "raw": ("bytes", 8)})
    fields = shape.fields
    assert fields == [("name", "string", 0), ("score", "number", 0), ("ok", "bool", 0),
                      ("raw", "bytes", 8)]
    declared = _stub_annotation("ShapeBase", "fields")
    assert _conforms(fields, declared), f"stub says {declared}, runtime gives {fields!r}"
    # and the check can fail: the old, wrong declaration is refused
    assert not _conforms(fields, typing.List[typing.Tuple[str, int, int]])


SAMPLE = '''
    import sharena

    def main() -> None:
        with sharena.open("typed", create=True, capacity=1 << 20) as arena:
            m: sharena.Map = arena.map("m")
            m["n"] = 1
            total: float = m.add("n", 2)
            r: sharena.Ref = m.ref("n")
            r.value = 3
            version: int = r.wait(timeout=0.0, since=0)
            shape: sharena.Shape = arena.shape({"name": "string", "raw": ("bytes", 4)})
            for name, kind, size in shape.fields:
                label: str = name + ":" + kind
                width: int = size + 1
                print(label, width, total, version)
            buf: sharena.Bytes = arena.bytes("b", 4)
            written: int = buf.write(b"ab", offset=1)
            buf.drop(recursive=False)
            m.set("k", arena.new([1]), owned=True)
            info = arena.stat()
            print(info["clients"], written)
'''


def test_mypy_strict_accepts_a_sample_program(tmp_path):
    pytest.importorskip("mypy")
    (tmp_path / "sample.py").write_text(textwrap.dedent(SAMPLE))
    env = dict(os.environ)
    pkg_parent = str(Path(sharena.__file__).resolve().parents[1])
    if not pkg_parent.endswith("site-packages"):
        env["MYPYPATH"] = pkg_parent  # a build tree on PYTHONPATH
    cmd = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
           "--no-incremental", "--cache-dir", str(tmp_path / "cache"), "sample.py"]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # the check can fail: a wrong use of the typed API is reported
    (tmp_path / "sample.py").write_text(textwrap.dedent(SAMPLE).replace(
        "width: int = size + 1", "width: int = kind"))
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "sample.py" in r.stdout, r.stdout + r.stderr
