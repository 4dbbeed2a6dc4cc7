"""Events in their fact tables: which table each type goes to, and the values a fact row
holds that are not the event's own (tags as canonical JSON, an assumption's preference)."""

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


def session_tags_json(tags: Mapping[str, str] | None) -> str:
    """A session's tags as stored: canonical JSON (sorted keys), `{}` when there are none."""
    return _canonical_json(tags) if tags else "{}"


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
# What `json.dumps(tags, sort_keys=True)` gives, without building an encoder per call.
_canonical_json = json.JSONEncoder(sort_keys=True).encode
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
