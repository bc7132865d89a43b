"""The hint texts of errors are one table, in lib/ (sharena_strerror_hint,
issue 15): C, Node and Python each report the hint of every code and the
message of a real error (a number read after its drop); the three tables
are the same, every code has a hint of its own, and the Node and Python
messages for the real error carry the hint the C library gives."""
import pytest

from test_interop import json_runs


@pytest.fixture(scope="module")
def results():
    return json_runs("sharena-hints-", "hints")


def test_every_code_has_its_own_hint_in_c(results):
    table = results["c"]["table"]
    assert len(table) >= 30 and "ESTALE" in table and "EDEADLK" in table
    for name, hint in table.items():
        assert hint and "docs/api-c.md" not in hint, f"{name} has no hint of its own"


@pytest.mark.parametrize("lang", ["node", "py"])
def test_same_table_in_every_language(results, lang):
    assert results[lang]["table"] == results["c"]["table"]


@pytest.mark.parametrize("lang", ["node", "py"])
def test_a_real_error_carries_the_c_hint(results, lang):
    c = results["c"]["stale"]
    assert c["code"] == "ESTALE"
    assert results[lang]["stale"]["code"] == "ESTALE"
    assert c["hint"] in results[lang]["stale"]["message"]
