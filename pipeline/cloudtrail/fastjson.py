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
# text with twenty digits in a row anywhere (in a string too) goes to the json module.
# Found as a run in the text with every digit made 1 and every other byte 0 (a regular
# expression takes a millisecond on a CloudTrail file of 100 KB; this, a few microseconds).
_DIGITS = bytes(1 if 0x30 <= b <= 0x39 else 0 for b in range(256))
_LONG_RUN = b"\x01" * 20


def loads(data: bytes) -> Any:
    """The value of one JSON text; raises what `json.loads` raises."""
    if _LONG_RUN not in data.translate(_DIGITS):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)
