"""The value builder is one, in lib/ (issue 15): C, Node and Python each
run the same script (interop.c, mode build) in an arena of their own: the
same nested tree gives the same arena content, and a set and a push that
fail mid-tree (a value that cannot be stored; a full arena) leave used
bytes, live objects and the containers exactly as they were, in every
language."""
import json
import subprocess

import pytest

from test_interop import LANGS, command, private_sharenad


@pytest.fixture(scope="module")
def results():
    with private_sharenad("sharena-build-") as (env, _proc):
        out = {}
        for lang in LANGS:
            p = subprocess.run(command(lang, "build", f"build.{lang}"), env=env,
                               capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, f"{lang}: rc {p.returncode}: {p.stderr}"
            out[lang] = json.loads(p.stdout)
        yield out


def test_same_tree_same_content(results):
    tree = results["c"]["tree"]["m"]
    assert tree["t"]["m"]["s"] == {"s": "h\u00e9llo \u2713"}
    assert tree["t"]["m"]["neg"] == {"n": "8000000000000000"}
    assert tree["t"]["m"]["raw"] == {"x": "00ff"}
    assert tree["t"]["m"]["l"]["v"][2] == {"m": {"deep": {"v": [{"b": False}, {"n": "4000000000000000"}]}}}
    for lang in LANGS:
        assert results[lang]["tree"] == results["c"]["tree"], lang


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("failure", ["unsupported", "full"])
def test_failure_changes_nothing(results, lang, failure):
    assert results[lang][failure] == "unchanged"


def test_same_final_content(results):
    for lang in LANGS:
        assert results[lang]["final"] == results["c"]["final"], lang
    assert results["c"]["final"]["m"]["m"]["keep"] == {"s": "old"}
    assert results["c"]["final"]["v"] == {"v": [{"s": "a"}, {"s": "b"}]}
