"""Reading and writing the date-time values of IAM conditions.

IAM accepts the W3C profile of ISO 8601 (``2024-10-10``, ``2024-10-10T09:43:48Z``, with
fractional seconds such as ``09:43:48.085Z``, with ``+01:00`` offsets) and epoch seconds.
A value made only of digits (optionally signed, optionally with a fraction) is read as epoch
seconds; everything else as ISO 8601. A value without an offset is taken as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

_EPOCH_SECONDS = re.compile(r"[+-]?\d+(?:\.\d+)?")
_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(text: str) -> datetime:
    """Parse an IAM date-time value into an aware UTC datetime; ``ValueError`` if it is not one."""
    value = text.strip()
    if _EPOCH_SECONDS.fullmatch(value):
        return _from_epoch(value)
    month = _YEAR_MONTH.fullmatch(value)
    if month:
        return datetime(int(month.group(1)), int(month.group(2)), 1, tzinfo=UTC)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _from_epoch(value: str) -> datetime:
    try:
        microseconds = int(Decimal(value) * 1_000_000)
        return _EPOCH + timedelta(microseconds=microseconds)
    except (InvalidOperation, OverflowError) as exc:
        raise ValueError(f"epoch time out of range: {value!r}") from exc


def require_aware(moment: datetime, what: str) -> datetime:
    """Return ``moment`` in UTC; ``ValueError`` if it has no time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """Write an aware datetime as IAM does: UTC, ``Z``, fractional digits only when needed."""
    utc = require_aware(moment, "time")
    if utc.microsecond == 0:
        spec = "seconds"
    elif utc.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def epoch_seconds(moment: datetime) -> int:
    """Whole epoch seconds of an aware datetime (rounded down), as ``aws:EpochTime`` holds them."""
    utc = require_aware(moment, "time")
    return (utc - _EPOCH) // timedelta(seconds=1)
