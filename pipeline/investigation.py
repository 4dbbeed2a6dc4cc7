"""What an investigator gets back besides sessions: a trace, a session's detail, its calls.

Plain answer models (serialized as the CLI's `--json` and read by the dashboard) and
where a call falls in its session's lifetime; `pipeline.queries` fills them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.sessions import SessionView
from pipeline.timeutil import UtcIso, to_utc


class ActionView(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    event_time: UtcIso
    access_key_id: str | None
    principal_arn: str | None
    action: str
    resources: list[str]
    outcome: str
    error_code: str | None
    source_ip: str | None
    # Where the call falls in its session's lifetime: "within", or "after exit", "after
    # revocation", "after expiry", "before start" (set by `Queries.actions`); "no session
    # (long-term key)" for a long-term key's own calls.
    lifetime: str = "within"


class GrantInterval(BaseModel):
    """A managed policy attached to a role from `granted_at` until `removed_at` (or now)."""

    role_arn: str
    policy_arn: str
    granted_at: UtcIso
    removed_at: UtcIso | None


class Trace(BaseModel):
    access_key_id: str
    key_type: str = "temporary"
    session_id: str
    origin_arn: str | None
    origin_resolved: bool
    origin_label: str
    chain: list[SessionView]


class LongTermKeyTrace(BaseModel):
    """A long-term key (`AKIA...`): its IAM user, the sessions it opened and its calls."""

    access_key_id: str
    key_type: str = "long-term"
    principal_arn: str | None
    principal_label: str
    sessions: list[SessionView]
    actions: list[ActionView]
    actions_total: int


class SessionDetail(BaseModel):
    session: SessionView
    chain: list[SessionView]
    credentials: list[dict[str, Any]]
    actions: list[ActionView]


def is_temporary_key(key: str | None) -> bool:
    return key is not None and key.startswith("ASIA")


ACTION_COLUMNS = (
    "event_id, event_time, access_key_id, principal_arn, action, resources, outcome, "
    "error_code, source_ip"
)


def action_view(row: dict[str, Any]) -> ActionView:
    row = {**row, "event_time": to_utc(row["event_time"]), "resources": row["resources"] or []}
    return ActionView.model_validate(row)


def lifetime_of(when: datetime, s: SessionView) -> str:
    """Where a call at `when` falls in a session's recorded lifetime."""
    if when < s.started_at:
        return "before start"
    if s.revoked_at is not None and when >= s.revoked_at and s.end_reason == "revoked":
        return "after revocation"
    if s.exited_at is not None and when >= s.exited_at and s.end_reason == "exited":
        return "after exit"
    if not s.expiry_estimated and when >= s.expires_at:
        return "after expiry"
    return "within"
