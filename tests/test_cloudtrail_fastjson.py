"""orjson where it parses, the json module for the rest: the values and errors of json.loads."""

from __future__ import annotations

import gzip
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cloudtrail import fastjson
from tests.cloudtrail_helpers import FIXTURES


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 and 1.0 differ; NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _outcome(data: bytes) -> tuple[str, Any]:
    try:
        return "value", json.loads(data)
    except (ValueError, RecursionError) as exc:
        return "error", (type(exc), str(exc))


def _check(data: bytes) -> None:
    kind, expected = _outcome(data)
    if kind == "value":
        assert _same(fastjson.loads(data), expected)
    else:
        with pytest.raises(expected[0]) as raised:
            fastjson.loads(data)
        assert str(raised.value) == expected[1]


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1,"a":2,"b":3}',
        b"-0",
        b"-0.0",
        b"1E400",
        b"[1e-400, 1.5e308]",
        b'"\\ud800"',
        b'"\\udc00\\ud800x"',
        b"123456789012345678901234567890",
        b"[18446744073709551616, -9223372036854775809]",
        b'{"id": "12345678901234567890123"}',
        b'{"id": "tf-r53-20240731142344425800000001", "n": 123456789012345678901234}',
        b'["E2146065570624623028365F", "_85805142394622550204", 12345678901234567890123]',
        b"[-123456789012345678901234567890, 0.123456789012345678901234567890123]",
        b"[1e123456789012345678901, 2E-000000000000000000001]",
        b'{"a": "b"}12345678901234567890123',
        b'"x" 12345678901234567890123',
        b'["a:12345678901234567890123,b"]',
        b"NaN",
        b"[Infinity, -Infinity]",
        b"\xef\xbb\xbf{}",
        '{"a": "\u00e9"}'.encode("utf-16"),
        b'{"a": "\xff"}',
        b"  {} ",
        b"{",
        b'{"a": tru}',
        b"",
        b"[1, 2,]",
        b'"\\u0000"',
        b'["\\/"]',
        b"[" * 2000 + b"]" * 2000,
    ],
)
def test_hostile_text_parses_or_fails_as_json_loads_does(text: bytes) -> None:
    _check(text)


def test_every_cloudtrail_sample_parses_the_same() -> None:
    files = sorted(FIXTURES.rglob("*.json*"))
    assert files
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        lines = data.splitlines() if path.suffix == ".jsonl" else [data]
        for line in lines:
            _check(line)


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 70), max_value=1 << 70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_any_json_value_parses_the_same(value: Any) -> None:
    _check(json.dumps(value).encode())
    _check(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


# Long runs of digits in strings beside numbers with long runs of digits of their own.
_DIGIT_HEAVY = st.recursive(
    st.text(alphabet='0123456789eE.-+:,[]{} _"x', max_size=60)
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_DIGIT_HEAVY)
def test_digit_heavy_values_parse_the_same(value: Any) -> None:
    _check(json.dumps(value).encode())
    _check(json.dumps(value, indent=1).encode())


def test_long_digit_runs_in_strings_take_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    # Terraform's names end in 26 digits: a file holding one is no reason for the slow path.
    def refused(data: bytes) -> Any:
        raise AssertionError("the json module parsed it")

    text = b'{"Records": [{"requestID": "tf-r53-20240731142344425800000001", "n": 12}]}'
    expected = json.loads(text)
    monkeypatch.setattr(fastjson.json, "loads", refused)
    assert _same(fastjson.loads(text), expected)
    with pytest.raises(AssertionError):
        fastjson.loads(b'{"n": 12345678901234567890123}')  # a number's: the json module's


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_parse_or_fail_the_same(data: bytes) -> None:
    _check(data)
