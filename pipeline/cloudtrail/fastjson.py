"""JSON text -> values: orjson (about twice the json module's speed on CloudTrail), the
json module for whatever orjson refuses.

Where orjson parses, it gives what `json.loads` gives (tests/test_cloudtrail_fastjson.py
compares them on CloudTrail records and on hostile text). What it refuses (a lone
surrogate escape, NaN, Infinity, a number beyond a float's range, a byte order mark, UTF-16, nesting
beyond 1,024 levels, broken JSON) is parsed by `json.loads`, which then accepts it or
raises exactly as it did before: errors and their messages are the json module's. One
difference remains, on hostile input only: nesting between about 950 levels (where the
json module runs out of stack) and 1,024 (orjson's limit) parses here, and the record is
then mapped or skipped by the mapper instead of being lost by the reader.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# orjson reads an integer beyond 64 bits as a float; the json module keeps it whole. A
# text with a run of twenty digits that may be a number's goes to the json module.
# Runs are found in the text with every digit made 1 and every other byte 0 (a regular
# expression takes a millisecond on a CloudTrail file of 100 KB; this, a few microseconds).
_DIGITS = bytes(1 if 0x30 <= b <= 0x39 else 0 for b in range(256))
_LONG_RUN = b"\x01" * 20
# The bytes that can stand just before and just after a run of a number's digits in JSON:
# a sign, a decimal point or an exponent's letter, else what ends or separates values.
_NUMBER_BEFORE = frozenset(b"-+.eE:[, \t\n\r")
_NUMBER_AFTER = frozenset(b".eE,]} \t\n\r")


def loads(data: bytes) -> Any:
    """The value of one JSON text; raises what `json.loads` raises."""
    marks = data.translate(_DIGITS)
    if _LONG_RUN not in marks or _runs_in_strings(data, marks):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def _runs_in_strings(data: bytes, marks: bytes) -> bool:
    """True when no run of twenty digits in `data` can be a number's: each has a byte
    beside it that no number's digits have (a letter, `"`, `_`, `/`...), so it lies in a
    string, or the text is not JSON there (orjson then refuses it). Long digit runs in
    strings are common in real trails: Terraform's generated names end in 26 digits."""
    at = marks.find(_LONG_RUN)
    while at >= 0:
        end = marks.find(b"\x00", at)
        if end < 0:
            end = len(data)
        before_is_number = at == 0 or data[at - 1] in _NUMBER_BEFORE
        after_is_number = end == len(data) or data[end] in _NUMBER_AFTER
        if before_is_number and after_is_number:
            return False
        at = marks.find(_LONG_RUN, end)
    return True
