"""One deadlock rule for object locks, in lib/ (sharena_lock_nested, issue
15): C and Python (Node has no lock API) run the same script (mode locks):
a plain lock of a lock this thread holds is EDEADLK; a nested one counts a
level, and writes inside work; the lock stays held (another process, the C
probe, cannot take it) until the outermost unlock; one unlock too many is
EPERM. Python's nested ``with m.locked()`` is that same counted lock."""
import pytest

from test_interop import json_runs

EXPECTED = {
    "twice": "EDEADLK", "twice_timeout": "EDEADLK", "nested": "OK",
    "write_inside": "OK", "after_inner_unlock": "held",
    "after_outer_unlock": "free", "extra_unlock": "EPERM",
    "nested_first": "held", "nested_first_unlocked": "free",
}


@pytest.fixture(scope="module")
def results():
    return json_runs("sharena-locks-", "locks", ("c", "py"))


@pytest.mark.parametrize("lang", ["c", "py"])
def test_one_deadlock_rule(results, lang):
    got = {k: results[lang][k] for k in EXPECTED}
    assert got == EXPECTED


def test_python_with_blocks_nest_in_the_library(results):
    assert results["py"]["with_inner_left"] == "held"
