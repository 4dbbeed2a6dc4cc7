"""Calls made with access keys -> AccessRecorded, and the sessions of temporary keys.

A call's `sessionContext` describes the session that made it. When the issuing event is
not in the input (another account's trail, an older file, a service that issued the
key), the session is inferred from it, and the issuing event, when it arrives, is
preferred over it. Console keys join the console session they belong to (the sign-in
or the switch-role that `creationDate` names); long-term keys (`AKIA...`) are recorded
as the IAM user's own calls.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.cloudtrail.console import session_id, sign_in_lifecycle, switch_lifecycle
from pipeline.cloudtrail.context import Draft, Record, is_denied
from pipeline.cloudtrail.fields import account_of, flag, obj, role_arn_of_session, text
from pipeline.cloudtrail.times import BadTime, parse_iso
from pipeline.events import AccessOutcome, AccessRecorded, AssumeVia, CredentialIssued, RoleAssumed

# eventSource prefixes whose IAM action prefix differs
_PREFIX = {
    "monitoring": "cloudwatch",
    "email": "ses",
    "elasticloadbalancing": "elasticloadbalancing",
}


def is_temporary(key: str | None) -> bool:
    return key is not None and key.startswith("ASIA")


def action_of(rec: Record) -> str:
    source = rec.source or "unknown.amazonaws.com"
    prefix = source.split(".", 1)[0]
    return f"{_PREFIX.get(prefix, prefix)}:{rec.name}"


def _request_resources(request: dict[str, Any]) -> list[str]:
    bucket = text(request, "bucketName", limit=256)
    if bucket:
        key = text(request, "key", limit=1024)
        return [f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"]
    for field in ("roleArn", "policyArn", "functionArn", "secretId", "name"):
        value = text(request, field, limit=2048)
        if value and value.startswith("arn:"):
            return [value]
    return []


def recorded(rec: Record) -> Draft:
    denied = is_denied(rec.error_code)
    key = rec.access_key
    # A console key's calls name its console session, so that they land on its partition.
    sid = key_session(rec, key) if is_temporary(key) and key is not None else None
    return (
        AccessRecorded,
        {
            "access_key_id": key,
            "session_id": sid if sid != key else None,
            "principal_arn": rec.caller_arn,
            "action": action_of(rec),
            "resources": rec.resource_arns() or _request_resources(rec.request),
            "outcome": AccessOutcome.DENIED if denied else AccessOutcome.ALLOWED,
            "error_code": rec.error_code,
            "source_ip": rec.source_ip,
            "user_agent": rec.user_agent,
            "region": rec.region,
        },
    )


# User agents of the console's own calls, from before records carried
# `sessionCredentialFromConsole`. "AWS Internal" also marks calls services make for a role
# session, so it is taken as the console's only for a user's or root's own keys.
_CONSOLE_AGENTS = ("console.", "signin.amazonaws.com")


def from_console(rec: Record) -> bool:
    """Whether the call was made with console credentials (IAM_REFERENCE.md 2a, 3.1)."""
    if text(rec.raw, "sessionCredentialFromConsole", limit=16) == "true":
        return True
    agent = rec.user_agent or ""
    if agent == "AWS Internal":
        return rec.caller_type in ("IAMUser", "Root")
    return agent.startswith(_CONSOLE_AGENTS) or ".console.aws.amazon.com" in agent


def console_session_of(rec: Record, created: datetime) -> tuple[str, str] | None:
    """The console session a console key belongs to: (session id, lifecycle key).

    A sign-in's keys carry the user's (or root's) ARN; a switch-role's carry the role
    session ARN; both with `creationDate` = the sign-in or switch time, which is how the
    console lifecycle events name their sessions too (`pipeline.cloudtrail.console`).
    """
    arn = rec.caller_arn
    if arn is None or not from_console(rec):
        return None
    if rec.caller_type in ("IAMUser", "Root"):
        lifecycle = sign_in_lifecycle(arn)
    elif rec.caller_type == "AssumedRole":
        lifecycle = switch_lifecycle(arn)
    else:
        return None
    return session_id(lifecycle, created), lifecycle


def key_session(rec: Record, key: str) -> str:
    """The session id a call's temporary key belongs to (the key itself unless console)."""
    created = _creation_date(rec)
    if created is not None:
        console = console_session_of(rec, created)
        if console is not None:
            return console[0]
    return key


def _creation_date(rec: Record) -> datetime | None:
    attributes = obj(obj(rec.identity, "sessionContext"), "attributes")
    if "creationDate" not in attributes:
        return None
    try:
        return parse_iso(attributes.get("creationDate"))
    except BadTime:
        return None


def inferred(rec: Record, key: str) -> list[tuple[str, Draft]] | None:
    """The session of `key` as its call tells it (None: too little to say anything).

    With `sessionContext.creationDate` the start is recorded, and every call of the key
    repeats the same fields, so the events are identical whichever call yields them (ids
    from the key alone). Without it (some console records carry no `sessionContext`) the
    start is the first recorded use: each call yields its own events (ids from the
    record), and the earliest one wins in the store whatever the order of arrival.
    """
    context = obj(rec.identity, "sessionContext")
    attributes = obj(context, "attributes")
    created = _creation_date(rec)
    issuer = obj(context, "sessionIssuer")
    kind = rec.caller_type
    session_arn = rec.caller_arn
    issuer_arn = text(issuer, "arn", limit=2048)
    role_arn = issuer_arn if text(issuer, "type") == "Role" else None
    if role_arn is None and kind == "AssumedRole" and session_arn:
        role_arn = role_arn_of_session(session_arn)
    caller_arn = caller_type = None
    if kind in ("IAMUser", "Root"):
        caller_arn, caller_type = session_arn, kind
    elif kind == "FederatedUser":
        caller_arn, caller_type = issuer_arn, text(issuer, "type", limit=64)
    elif context.get("ec2RoleDelivery") is not None:
        # Instance-profile credentials: issued by EC2 for the instance the session is named
        # after (IAM_REFERENCE.md 1.4), though the issuing AssumeRole is not in the data.
        caller_arn, caller_type = "ec2.amazonaws.com", "AWSService"
    account = (
        account_of(role_arn)
        or account_of(session_arn)
        or _account(rec.identity.get("accountId"))
        or _account(issuer.get("accountId"))
    )
    if account is None:
        return None
    name = session_arn.rsplit("/", 1)[-1][:64] if session_arn and "/" in session_arn else None
    sid, lifecycle, start, estimated = key, None, created, False
    if created is None:
        start, estimated = rec.time, True
    else:
        console = console_session_of(rec, created)
        if console is not None:
            sid, lifecycle = console
    assumed = {
        "event_time": start,
        "account_id": account,
        "session_id": sid,
        "role_arn": role_arn,
        "session_name": name or None,
        "session_arn": session_arn,
        "via": AssumeVia.INFERRED,
        "caller_arn": caller_arn,
        "caller_type": caller_type,
        "source_identity": text(context, "sourceIdentity", limit=64),
        "mfa_authenticated": flag(attributes, "mfaAuthenticated"),
        "lifecycle_key": lifecycle,
        "start_estimated": estimated,
    }
    credential = {
        "event_time": start,
        "account_id": account,
        "session_id": sid,
        "access_key_id": key,
        "issued_at": start,
    }
    prefix = f"ct-inferred:{key}" if not estimated else f"ct-inferred:{key}@{rec.event_id}"
    return [
        (prefix, (RoleAssumed, assumed)),
        (f"{prefix}#credential", (CredentialIssued, credential)),
    ]


def _account(value: Any) -> str | None:
    if isinstance(value, str) and len(value) == 12 and value.isdigit():
        return value
    return None
