"""The time formats CloudTrail writes.

`eventTime` and `creationDate` are ISO 8601 (the docs also show the basic form
`20131102T010628Z`); Logstash exports put the time in `@timestamp`. The `expiration` of
issued credentials is not ISO at all: a UTC time with no zone marker, in two variants,
"Jul 18, 2014, 4:07:39 PM" and "Jan 22, 2021 12:46:28 AM".
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from functools import lru_cache

from pipeline.timeutil import utc_in_range

_BASIC_FORMATS = ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S.%fZ")


class BadTime(ValueError):
    """A time CloudTrail could not have written (or one outside rolecall's range)."""


def _in_range(value: datetime) -> datetime:
    try:
        return utc_in_range(value)
    except ValueError as exc:
        raise BadTime(str(exc)) from None


def parse_iso(text: object) -> datetime:
    """An ISO 8601 time (extended or basic form), UTC when no zone is given."""
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        raise BadTime(f"not a time: {str(text)[:40]!r}")
    return _parse_iso(text)


@lru_cache(maxsize=1 << 16)  # a session's calls repeat its creationDate; files repeat seconds
def _parse_iso(text: str) -> datetime:
    value = text.strip()
    try:
        return _in_range(datetime.fromisoformat(value))  # 3.11: extended and basic forms, Z
    except (ValueError, OverflowError):
        pass
    for fmt in _BASIC_FORMATS:
        try:
            return _in_range(datetime.strptime(value.upper(), fmt))
        except ValueError:
            pass
    raise BadTime(f"not a time: {text[:40]!r}")


_EXPIRATION = re.compile(
    r"\s*([A-Z][a-z]{2}) (\d{1,2}), (\d{4}),? (\d{1,2}):(\d{2}):(\d{2}) ([AP]M)\s*"
)
_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}


def parse_expiration(text: object) -> datetime:
    """A credential's `expiration`, in either CloudTrail variant or in ISO 8601."""
    if not isinstance(text, str) or len(text) > 40:
        raise BadTime(f"not an expiration: {str(text)[:40]!r}")
    found = _EXPIRATION.fullmatch(text)
    if found is None:
        return parse_iso(text)
    month, day, year, hour, minute, second, half = found.groups()
    if month not in _MONTHS or not 1 <= int(hour) <= 12:
        raise BadTime(f"not an expiration: {text!r}")
    hour24 = int(hour) % 12 + (12 if half == "PM" else 0)
    try:
        value = datetime(int(year), _MONTHS[month], int(day), hour24, int(minute), int(second))
    except ValueError as exc:
        raise BadTime(f"not an expiration: {text!r}") from exc
    return _in_range(value)


def format_expiration(value: datetime) -> str:
    """The first CloudTrail variant ("Jul 18, 2014, 4:07:39 PM"), for rendered records."""
    value = value.astimezone(UTC)
    hour = value.hour % 12 or 12
    return f"{value:%b} {value.day}, {value.year}, {hour}:{value:%M:%S} {value:%p}"
