"""Events as rows of their fact tables (UTC-naive times, tags as canonical JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from pipeline.timeutil import naive

FACT_TABLE: dict[type[Event], str] = {
    RoleAssumed: "role_assumptions",
    CredentialIssued: "credentials",
    RoleExited: "exits",
    SessionsRevoked: "revocations",
    PolicyChanged: "policy_changes",
    AccessRecorded: "actions",
}
FACT_TABLE_OF_TYPE: dict[str, str] = {cls.event_type: t for cls, t in FACT_TABLE.items()}


def naive_utc(value: datetime | None) -> datetime | None:
    return None if value is None else naive(value)


def fact_row(event_type: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The row of an event in its fact table, from its plain Avro record.

    Times stay aware (UTC): DuckDB stores them in TIMESTAMP columns as UTC because the
    connection's zone is pinned to UTC.
    """
    row = dict(record)
    if event_type == "RoleAssumed":
        tags = record["session_tags"]
        row["session_tags"] = json.dumps(tags, sort_keys=True) if tags else "{}"
        row["pref"] = preference(str(record["via"]), record["event_time"], str(record["event_id"]))
    return row


def record_of(event: Event) -> dict[str, Any]:
    """The plain record of a model (what the codec's decode gives back)."""
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in event.model_dump().items()}


def preference(via: str, event_time: datetime, event_id: str) -> str:
    """Sort key of the assumption a session takes its attributes from (smallest wins).

    An issuing event beats one inferred from calls; then the earliest; then the event id,
    so that the choice is the same whatever order the events arrive in.
    """
    rank = "1" if via == AssumeVia.INFERRED.value else "0"
    micros = (event_time - _EPOCH) // timedelta(microseconds=1)
    return f"{rank}|{micros:020d}|{event_id}"


NO_ASSUMPTION = "9"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
