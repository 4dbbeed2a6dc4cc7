"""Events as rows of their fact tables (UTC-naive times, tags as canonical JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from pipeline.events import (
    AccessRecorded,
    AssumeVia,
    CredentialIssued,
    Event,
    PolicyChanged,
    RoleAssumed,
    RoleExited,
    SessionsRevoked,
)

FACT_TABLE: dict[type[Event], str] = {
    RoleAssumed: "role_assumptions",
    CredentialIssued: "credentials",
    RoleExited: "exits",
    SessionsRevoked: "revocations",
    PolicyChanged: "policy_changes",
    AccessRecorded: "actions",
}


def naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return naive_utc(value)
    return value


def fact_row(event: Event) -> dict[str, Any]:
    """The row of `event` in its fact table."""
    row = {name: _plain(getattr(event, name)) for name in type(event).model_fields}
    if isinstance(event, RoleAssumed):
        row["session_tags"] = json.dumps(event.session_tags, sort_keys=True)
        row["pref"] = preference(event)
    if isinstance(event, RoleExited):
        row["reason"] = event.reason.value
    return row


def preference(event: RoleAssumed) -> str:
    """Sort key of the assumption a session takes its attributes from (smallest wins).

    An issuing event beats one inferred from calls; then the earliest; then the event id,
    so that the choice is the same whatever order the events arrive in.
    """
    rank = "1" if event.via is AssumeVia.INFERRED else "0"
    micros = (event.event_time - _EPOCH) // timedelta(microseconds=1)
    return f"{rank}|{micros:020d}|{event.event_id}"


NO_ASSUMPTION = "9"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
