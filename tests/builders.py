"""Small readable builders for events in tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.events import (
    AccessOutcome,
    AccessRecorded,
    AssumeVia,
    CredentialIssued,
    EventSource,
    ExitReason,
    RoleAssumed,
    RoleExited,
    SessionsRevoked,
)

ACCOUNT = "111122223333"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def role(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def _env(minute: float, event_id: str | None) -> dict[str, Any]:
    return {
        "event_id": event_id or f"t-{next(_ids)}",
        "event_time": at(minute),
        "account_id": ACCOUNT,
        "source": EventSource.API,
    }


def assumed(
    key: str,
    role_name: str,
    minute: float = 0,
    *,
    via: AssumeVia = AssumeVia.ASSUME_ROLE,
    caller_arn: str = "arn:aws:iam::111122223333:user/alice",
    caller_key: str | None = None,
    event_id: str | None = None,
    **fields: Any,
) -> RoleAssumed:
    return RoleAssumed(
        **_env(minute, event_id),
        session_id=key,
        role_arn=role(role_name),
        session_name="s",
        via=via,
        caller_arn=caller_arn,
        caller_access_key_id=caller_key,
        **fields,
    )


def issued(
    key: str,
    minute: float = 0,
    *,
    hours: float = 1,
    session_id: str | None = None,
    event_id: str | None = None,
) -> CredentialIssued:
    return CredentialIssued(
        **_env(minute, event_id),
        session_id=session_id or key,
        access_key_id=key,
        issued_at=at(minute),
        expires_at=at(minute + 60 * hours),
    )


def session(
    key: str, role_name: str, minute: float = 0, **kw: Any
) -> tuple[RoleAssumed, CredentialIssued]:
    hours = kw.pop("hours", 1)
    return assumed(key, role_name, minute, **kw), issued(key, minute, hours=hours)


def exited(
    minute: float,
    *,
    session_id: str | None = None,
    lifecycle_key: str | None = None,
    event_id: str | None = None,
) -> RoleExited:
    return RoleExited(
        **_env(minute, event_id),
        session_id=session_id,
        lifecycle_key=lifecycle_key,
        reason=ExitReason.CONSOLE_EXIT,
    )


def revoked(role_name: str, minute: float, *, event_id: str | None = None) -> SessionsRevoked:
    return SessionsRevoked(
        **_env(minute, event_id), role_arn=role(role_name), issued_before=at(minute)
    )


def call(
    key: str,
    minute: float,
    action: str = "s3:GetObject",
    *,
    outcome: AccessOutcome = AccessOutcome.ALLOWED,
    event_id: str | None = None,
) -> AccessRecorded:
    return AccessRecorded(
        **_env(minute, event_id),
        access_key_id=key,
        action=action,
        resources=["arn:aws:s3:::bucket/key"],
        outcome=outcome,
    )
