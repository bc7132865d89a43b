"""The exact-integer check of add is one, in lib/ (sharena_number_add_exact,
issue 15): C and Python (whose add() of an int uses it) run the same cases
(mode add) and get the same code and the same number after each: a sum
past +-2^53, or one rounding would change, is EOVERFLOW and changes
nothing. Node has no integer type (a JS number is a double): its add() is
sharena_number_add(), as a float add() is in Python."""
import struct

import pytest

from test_interop import json_runs


def bits(d):
    return struct.pack(">d", d).hex()


EXPECTED = {
    "up_to_2p53": {"code": "OK", "value": bits(2.0 ** 53)},
    "past_2p53": {"code": "EOVERFLOW", "value": bits(2.0 ** 53)},
    "below_minus_2p53": {"code": "EOVERFLOW", "value": bits(-2.0 ** 53)},
    "delta_past_2p53": {"code": "EOVERFLOW", "value": bits(1.0)},
    "fraction": {"code": "OK", "value": bits(1.5)},
    "huge": {"code": "EOVERFLOW", "value": bits(1e300)},
    "infinite": {"code": "OK", "value": bits(float("inf"))},
    "negative": {"code": "OK", "value": bits(-15.0)},
}


@pytest.fixture(scope="module")
def results():
    return json_runs("sharena-add-", "add", ("c", "py"))


@pytest.mark.parametrize("lang", ["c", "py"])
def test_one_exact_add_rule(results, lang):
    assert results[lang] == EXPECTED


def test_c_and_python_agree(results):
    assert results["py"] == results["c"]
