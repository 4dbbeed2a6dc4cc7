"""Times in and out: ISO 8601 UTC everywhere a user sees one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer

from pipeline.errors import InputError


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time (a date alone means midnight UTC; no zone means UTC)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"malformed time {text!r}: use ISO 8601, e.g. 2026-01-05T12:00:00Z"
        ) from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise InputError(f"time {text!r} is out of range once converted to UTC") from None


EARLIEST = datetime(2006, 1, 1, tzinfo=UTC)  # before AWS IAM existed: nothing real is older
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def utc_in_range(value: datetime) -> datetime:
    """`value` as aware UTC (naive taken as UTC, the only zone CloudTrail writes), or a
    ValueError when it is outside the years rolecall accepts in an event."""
    value = to_utc(value)
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"time {value.isoformat()} is outside {EARLIEST.year}..{LATEST.year}")
    return value


def to_utc(value: datetime) -> datetime:
    """An aware UTC datetime from a stored (naive UTC) or aware one."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def naive(value: datetime) -> datetime:
    """The naive-UTC form the store keeps."""
    return to_utc(value).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    """`2026-01-05T12:00:00Z` (with microseconds only when there are some)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # every view's time is UTC already: one call, not three
        value = to_utc(value)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=spec)[:-6] + "Z"  # "+00:00" said as "Z"


def iso_z(value: datetime) -> str:
    """`iso` of a time that is always there."""
    return str(iso(value))


# A datetime field of a model that serializes (to Python and to JSON alike) as
# `2026-01-05T12:00:00Z`: the one serializer every model's times go through.
UtcIso = Annotated[datetime, PlainSerializer(iso_z, return_type=str)]
