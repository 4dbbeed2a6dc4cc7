"""The base condition operators: how one request value is compared with the policy's values.

Each operator is an :class:`Operator`: ``build`` turns the policy's values (already rendered
into patterns) into a predicate over one request value that is true when the request value
matches *any* of the policy values. A negated operator (``StringNotEquals``, ``NotIpAddress``,
...) shares its positive twin's ``build`` and has ``negated=True``; ``conditions`` applies the
negation, the set qualifiers and the missing-key rules.

``build`` raises :class:`InvalidOperand` when a policy value cannot be read for the operator
(``NumericEquals: "ten"``); such a condition is reported and treated as unknown, never as a
match. A request value that cannot be read (``aws:SourceIp: "nowhere"``) simply does not match.

``Null`` and the ``IfExists``/``ForAnyValue``/``ForAllValues`` forms live in ``conditions``.

Binary: IAM compares the request's bytes with the base64-decoded policy value. Request
contexts here hold strings, so a ``BinaryEquals`` request value is taken as base64 text and
decoded too; a request value that is not valid base64 does not match.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeAlias, TypeVar

from pipeline.policy.matching import arn_match, glob_match
from pipeline.policy.timefmt import parse_time
from pipeline.policy.variables import Pattern, pattern_text

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Predicate: TypeAlias = Callable[[str], bool]
Builder: TypeAlias = Callable[[Sequence[Pattern]], Predicate]
T = TypeVar("T")


class InvalidOperand(ValueError):
    """A policy value cannot be read by its condition operator."""


@dataclass(frozen=True)
class Operator:
    name: str
    build: Builder
    negated: bool = False
    variables: bool = False  # whether policy variables are substituted in its values


def _string_equals(values: Sequence[Pattern]) -> Predicate:
    wanted = frozenset(pattern_text(v) for v in values)
    return lambda value: value in wanted


def _string_equals_ignore_case(values: Sequence[Pattern]) -> Predicate:
    wanted = frozenset(pattern_text(v).casefold() for v in values)
    return lambda value: value.casefold() in wanted


def _string_like(values: Sequence[Pattern]) -> Predicate:
    return lambda value: any(glob_match(v, value) for v in values)


def _arn_like(values: Sequence[Pattern]) -> Predicate:
    return lambda value: any(arn_match(v, value) for v in values)


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _parse_number(text: str) -> Decimal:
    if not _NUMBER.fullmatch(text.strip()):
        raise ValueError(f"not a number: {text!r}")
    return Decimal(text.strip())


def epoch_microseconds(text: str) -> int:
    """An IAM date-time value as microseconds since the epoch; ValueError if it is none."""
    return (parse_time(text) - _EPOCH) // timedelta(microseconds=1)


def _parse_date(text: str) -> Decimal:
    """A date-time as microseconds since the epoch, so it orders like a number."""
    return Decimal(epoch_microseconds(text))


def _parse_bool(text: str) -> bool:
    folded = text.strip().lower()
    if folded not in ("true", "false"):
        raise ValueError(f"not a boolean: {text!r}")
    return folded == "true"


def _parse_binary(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64: {text!r}") from exc


def _compared(parse: Callable[[str], T], compare: Callable[[T, T], bool]) -> Builder:
    """A builder that parses both sides with ``parse`` and tests ``compare(request, policy)``."""

    def build(values: Sequence[Pattern]) -> Predicate:
        try:
            wanted = [parse(pattern_text(v)) for v in values]
        except ValueError as exc:
            raise InvalidOperand(str(exc)) from exc

        def predicate(value: str) -> bool:
            try:
                got = parse(value)
            except ValueError:
                return False
            return any(compare(got, w) for w in wanted)

        return predicate

    return build


IpNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip_address(values: Sequence[Pattern]) -> Predicate:
    try:
        networks: list[IpNetwork] = [
            ipaddress.ip_network(pattern_text(v).strip(), strict=False) for v in values
        ]
    except ValueError as exc:
        raise InvalidOperand(str(exc)) from exc

    def predicate(value: str) -> bool:
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return False
        return any(address.version == n.version and address in n for n in networks)

    return predicate


def _pair(
    positive: str, negative: str, build: Builder, *, variables: bool = False
) -> tuple[Operator, Operator]:
    return (
        Operator(positive, build, negated=False, variables=variables),
        Operator(negative, build, negated=True, variables=variables),
    )


def _ordered(prefix: str, parse: Callable[[str], Decimal]) -> tuple[Operator, ...]:
    def cmp(relation: Callable[[Decimal, Decimal], bool]) -> Builder:
        return _compared(parse, relation)

    equal = cmp(operator.eq)
    return (
        *_pair(f"{prefix}Equals", f"{prefix}NotEquals", equal),
        Operator(f"{prefix}LessThan", cmp(operator.lt)),
        Operator(f"{prefix}LessThanEquals", cmp(operator.le)),
        Operator(f"{prefix}GreaterThan", cmp(operator.gt)),
        Operator(f"{prefix}GreaterThanEquals", cmp(operator.ge)),
    )


_ALL: tuple[Operator, ...] = (
    *_pair("StringEquals", "StringNotEquals", _string_equals, variables=True),
    *_pair(
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        _string_equals_ignore_case,
        variables=True,
    ),
    *_pair("StringLike", "StringNotLike", _string_like, variables=True),
    *_pair("ArnEquals", "ArnNotEquals", _arn_like, variables=True),
    *_pair("ArnLike", "ArnNotLike", _arn_like, variables=True),
    *_ordered("Numeric", _parse_number),
    *_ordered("Date", _parse_date),
    Operator("Bool", _compared(_parse_bool, operator.eq), variables=True),
    Operator("BinaryEquals", _compared(_parse_binary, operator.eq)),
    *_pair("IpAddress", "NotIpAddress", _ip_address),
)

OPERATORS: Mapping[str, Operator] = {op.name.lower(): op for op in _ALL}
"""Every supported base operator, by lower-cased name (``Null`` is handled in ``conditions``)."""


def find_operator(name: str) -> Operator | None:
    """The base operator called ``name`` (compared without case), or ``None``."""
    return OPERATORS.get(name.lower())
