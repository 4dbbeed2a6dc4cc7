"""The time formats CloudTrail writes.

`eventTime` and `creationDate` are ISO 8601 (the docs also show the basic form
`20131102T010628Z`); Logstash exports put the time in `@timestamp`. The `expiration` of
issued credentials is not ISO at all: a UTC time with no zone marker, in two variants,
"Jul 18, 2014, 4:07:39 PM" and "Jan 22, 2021 12:46:28 AM".
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.events import EARLIEST, LATEST

_EXPIRATION_FORMATS = ("%b %d, %Y, %I:%M:%S %p", "%b %d, %Y %I:%M:%S %p")
_BASIC_FORMATS = ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S.%fZ")


class BadTime(ValueError):
    """A time CloudTrail could not have written (or one outside rolecall's range)."""


def _in_range(value: datetime) -> datetime:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not EARLIEST <= value < LATEST:
        raise BadTime(f"time {value.isoformat()} is outside {EARLIEST.year}..{LATEST.year}")
    return value


def parse_iso(text: object) -> datetime:
    """An ISO 8601 time (extended or basic form), UTC when no zone is given."""
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        raise BadTime(f"not a time: {str(text)[:40]!r}")
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        for fmt in _BASIC_FORMATS:
            try:
                return _in_range(datetime.strptime(value.upper(), fmt))
            except ValueError:
                pass
        value = value[:-1] + "+00:00"
    try:
        return _in_range(datetime.fromisoformat(value))
    except (ValueError, OverflowError) as exc:
        raise BadTime(f"not a time: {text[:40]!r}") from exc


def parse_expiration(text: object) -> datetime:
    """A credential's `expiration`, in either CloudTrail variant or in ISO 8601."""
    if not isinstance(text, str) or len(text) > 40:
        raise BadTime(f"not an expiration: {str(text)[:40]!r}")
    for fmt in _EXPIRATION_FORMATS:
        try:
            return _in_range(datetime.strptime(text.strip(), fmt))
        except ValueError:
            pass
    return parse_iso(text)


def format_expiration(value: datetime) -> str:
    """The first CloudTrail variant ("Jul 18, 2014, 4:07:39 PM"), for rendered records."""
    value = value.astimezone(UTC)
    hour = value.hour % 12 or 12
    return f"{value:%b} {value.day}, {value.year}, {hour}:{value:%M:%S} {value:%p}"
