"""Console sign-in events -> the console session lifecycle.

ConsoleLogin starts a user's console session; SwitchRole (both published shapes)
starts a role session that sets the user's own permissions aside; ExitRole ends it;
RenewRole starts a fresh interval of it. Console events carry no access key: their
sessions are named by the lifecycle key `<caller ARN>|<role ARN>` and the start time.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.cloudtrail.context import Draft, Record
from pipeline.cloudtrail.fields import Unmapped, account_of, flag, obj, role_arn_of_session, text
from pipeline.events import (
    AccessOutcome,
    AccessRecorded,
    AssumeVia,
    ExitReason,
    RoleAssumed,
    RoleExited,
)

CONSOLE_EVENTS = frozenset({"ConsoleLogin", "SwitchRole", "ExitRole", "RenewRole"})
CONSOLE_SIGN_IN_SECONDS = 12 * 3600  # an IAM user's console session lasts 12 h by default
SWITCH_ROLE_SECONDS = 3600  # a switched role session's default


def console(rec: Record) -> list[Draft]:
    if rec.name == "ConsoleLogin":
        return [_sign_in(rec)]
    if rec.name == "ExitRole":
        return [_exit(rec)]
    return [_switch(rec)]


def session_id(lifecycle_key: str, start: datetime) -> str:
    return f"{lifecycle_key}@{start.isoformat()}"


def _type_of(arn: str) -> str | None:
    resource = arn.split(":", 5)[-1]
    if resource == "root":
        return "Root"
    for prefix, kind in (
        ("user/", "IAMUser"),
        ("assumed-role/", "AssumedRole"),
        ("federated-user/", "FederatedUser"),
    ):
        if resource.startswith(prefix):
            return kind
    return None


def _role_of(arn: str | None) -> str | None:
    """A role ARN from a role ARN or a role session ARN."""
    if arn is None:
        return None
    if ":role/" in arn:
        return arn
    return role_arn_of_session(arn)


def _sign_in(rec: Record) -> Draft:
    arn = rec.caller_arn
    if arn is None:
        raise Unmapped("ConsoleLogin without a user ARN")
    status = text(rec.response, "ConsoleLogin", limit=64)
    if status != "Success" or rec.error_code is not None:
        return (
            AccessRecorded,
            {
                "principal_arn": arn,
                "access_key_id": rec.access_key,
                "action": "signin:ConsoleLogin",
                "resources": [],
                "outcome": AccessOutcome.DENIED,
                "error_code": rec.error_code or "Failure",
                "source_ip": rec.source_ip,
                "user_agent": rec.user_agent,
                "region": rec.region,
            },
        )
    lifecycle = f"{arn}|console"
    issuer = obj(obj(rec.identity, "sessionContext"), "sessionIssuer")
    return (
        RoleAssumed,
        {
            "session_id": session_id(lifecycle, rec.time),
            "role_arn": text(issuer, "arn", limit=2048)
            if rec.caller_type == "AssumedRole"
            else None,
            "session_arn": arn,
            "via": AssumeVia.CONSOLE_SIGN_IN,
            "caller_arn": arn,
            "caller_type": rec.caller_type,
            "mfa_authenticated": flag(rec.extra, "MFAUsed"),
            "source_ip": rec.source_ip,
            "user_agent": rec.user_agent,
            "requested_duration_seconds": CONSOLE_SIGN_IN_SECONDS,
            "lifecycle_key": lifecycle,
        },
    )


def _switch(rec: Record) -> Draft:
    status = text(rec.response, rec.name, limit=64)
    if (status is not None and status != "Success") or rec.error_code is not None:
        raise Unmapped(f"failed {rec.name}")
    extra = rec.extra
    switch_to = text(extra, "SwitchTo", limit=2048)
    switch_from = text(extra, "SwitchFrom", limit=2048) or text(extra, "RenewedBy", limit=2048)
    issuer = obj(obj(rec.identity, "sessionContext"), "sessionIssuer")
    caller: str | None
    name: str | None
    if switch_to is not None and rec.caller_type != "AssumedRole":
        # Shape (b): the user's view, naming the role switched to.
        caller, caller_type = rec.caller_arn, rec.caller_type
        role = _role_of(switch_to)
        name = text(rec.identity, "userName", limit=64) or (caller or "").rsplit("/", 1)[-1]
        account = account_of(role)
        session_arn = (
            f"arn:aws:sts::{account}:assumed-role/{role.rsplit('/', 1)[-1]}/{name}"
            if role and account and name
            else None
        )
    elif switch_from is not None:
        # Shape (a): the role's view, the new session's identity naming where it came from.
        caller, caller_type = switch_from, _type_of(switch_from)
        session_arn = rec.caller_arn
        role = text(issuer, "arn", limit=2048) or _role_of(session_arn)
        name = session_arn.rsplit("/", 1)[-1] if session_arn else None
    else:
        raise Unmapped(f"{rec.name} without SwitchTo or SwitchFrom")
    if caller is None or role is None:
        raise Unmapped(f"{rec.name} without caller or role")
    lifecycle = f"{caller}|{role}"
    attributes = obj(obj(rec.identity, "sessionContext"), "attributes")
    return (
        RoleAssumed,
        {
            "session_id": session_id(lifecycle, rec.time),
            "role_arn": role,
            "session_name": (name or None) and name[:64],
            "session_arn": session_arn,
            "via": AssumeVia.CONSOLE_SWITCH_ROLE,
            "caller_arn": caller,
            "caller_type": caller_type,
            "mfa_authenticated": flag(attributes, "mfaAuthenticated"),
            "source_ip": rec.source_ip,
            "user_agent": rec.user_agent,
            "requested_duration_seconds": SWITCH_ROLE_SECONDS,
            "lifecycle_key": lifecycle,
        },
    )


def _exit(rec: Record) -> Draft:
    role = _role_of(text(rec.extra, "SwitchFrom", limit=2048))
    caller = rec.caller_arn
    if rec.caller_type == "AssumedRole":
        # The role's view of an exit: the session left is the caller, back to SwitchTo.
        role = role or _role_of(caller)
        caller = text(rec.extra, "SwitchTo", limit=2048)
    if role is None or caller is None:
        raise Unmapped("ExitRole without caller or role")
    return (
        RoleExited,
        {"lifecycle_key": f"{caller}|{role}", "reason": ExitReason.CONSOLE_EXIT},
    )
