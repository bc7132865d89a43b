"""Cancelling a wait is one rule, in lib/ (sharena_arena_cancel_waits,
which closing a handle does too; issue 15: Node reached an internal call
for it, Python polled in slices): in C, Node and Python (mode cancel) a wait
with no timeout on one handle ends with ECLOSED when that handle's waits
are cancelled or the handle is closed from elsewhere, the handle then
serves nothing (ECLOSED), and another handle of the same arena is not
affected."""
import pytest

from test_interop import LANGS, json_runs

EXPECTED = {"wait": "ECLOSED", "after": "ECLOSED", "other_handle": "OK"}


@pytest.fixture(scope="module")
def results():
    return json_runs("sharena-cancel-", "cancel")


@pytest.mark.parametrize("lang", LANGS)
def test_a_cancelled_wait_ends_with_eclosed(results, lang):
    assert results[lang] == EXPECTED
