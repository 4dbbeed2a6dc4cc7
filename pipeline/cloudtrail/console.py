"""Console sign-in events -> the console session lifecycle.

ConsoleLogin starts a user's console session; SwitchRole (both published shapes)
starts a role session that sets the user's own permissions aside; ExitRole ends it;
RenewRole starts a fresh interval of it. Console events carry no access key: their
sessions are named by a lifecycle key and the start time, `<lifecycle key>@<start>`.
The lifecycle key is one that the console's own calls can name too, so that the keys
they carry join the session (`pipeline.cloudtrail.calls`): `<user or root ARN>|console`
for a sign-in, and the role session ARN (`arn:aws:sts::A:assumed-role/R/<user name>`,
the same in every shape of SwitchRole, ExitRole and of the calls) for a switch.
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
# A console session requests no duration: the store estimates its end from the
# documented defaults (12 h for a sign-in, 1 h for a switch; `pipeline.store.schema`).


def console(rec: Record) -> list[Draft]:
    if rec.name == "ConsoleLogin":
        return [_sign_in(rec)]
    if rec.name == "ExitRole":
        return [_exit(rec)]
    return [_switch(rec)]


def session_id(lifecycle_key: str, start: datetime) -> str:
    return f"{lifecycle_key}@{start.isoformat()}"


def sign_in_lifecycle(principal_arn: str) -> str:
    return f"{principal_arn}|console"


def switch_lifecycle(session_arn: str) -> str:
    return session_arn


def _switched_session_arn(role: str | None, user_name: str | None) -> str | None:
    """The role session ARN the console gives a switch: the role's name, the user's name."""
    account = account_of(role)
    if not role or not account or not user_name:
        return None
    return f"arn:aws:sts::{account}:assumed-role/{role.rsplit('/', 1)[-1]}/{user_name}"


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
    lifecycle = sign_in_lifecycle(arn)
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
        session_arn = _switched_session_arn(role, name)
    elif switch_from is not None:
        # Shape (a): the role's view, the new session's identity naming where it came from.
        caller, caller_type = switch_from, _type_of(switch_from)
        session_arn = rec.caller_arn
        role = text(issuer, "arn", limit=2048) or _role_of(session_arn)
        name = session_arn.rsplit("/", 1)[-1] if session_arn else None
    else:
        raise Unmapped(f"{rec.name} without SwitchTo or SwitchFrom")
    if caller is None or role is None or session_arn is None:
        raise Unmapped(f"{rec.name} without caller or role")
    lifecycle = switch_lifecycle(session_arn)
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
            "lifecycle_key": lifecycle,
        },
    )


def _exit(rec: Record) -> Draft:
    if rec.caller_type == "AssumedRole":
        # The role's view of an exit: the session left is the caller itself.
        session_arn = rec.caller_arn
    else:
        role = _role_of(text(rec.extra, "SwitchFrom", limit=2048))
        name = text(rec.identity, "userName", limit=64) or (rec.caller_arn or "").rsplit("/")[-1]
        session_arn = _switched_session_arn(role, name or None)
    if session_arn is None:
        raise Unmapped("ExitRole without caller or role")
    return (
        RoleExited,
        {"lifecycle_key": switch_lifecycle(session_arn), "reason": ExitReason.CONSOLE_EXIT},
    )
