"""Calls made with temporary keys (`ASIA...`) -> AccessRecorded, and inferred sessions.

A call's `sessionContext` describes the session that made it. When the issuing event is
not in the input (another account's trail, an older file, a service that issued the
key), the session is inferred from it: event ids are derived from the key alone and the
fields from the parts of `sessionContext` that every call of the session repeats, so
all calls yield byte-identical inferred events (duplicates to the store, never
conflicts), and the issuing event, when it arrives, is preferred over them.
"""

from __future__ import annotations

from typing import Any

from pipeline.cloudtrail.context import Draft, Record, is_denied
from pipeline.cloudtrail.fields import account_of, flag, obj, text
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
    return (
        AccessRecorded,
        {
            "access_key_id": rec.access_key,
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


def inferred(rec: Record, key: str) -> list[tuple[str, Draft]] | None:
    """The session of `key` as its call's `sessionContext` tells it (None: too little)."""
    context = obj(rec.identity, "sessionContext")
    attributes = obj(context, "attributes")
    try:
        created = parse_iso(attributes.get("creationDate"))
    except BadTime:
        return None
    issuer = obj(context, "sessionIssuer")
    kind = rec.caller_type
    session_arn = rec.caller_arn
    issuer_arn = text(issuer, "arn", limit=2048)
    role_arn = issuer_arn if text(issuer, "type") == "Role" else None
    caller_arn = caller_type = None
    if kind in ("IAMUser", "Root"):
        caller_arn, caller_type = session_arn, kind
    elif kind == "FederatedUser":
        caller_arn, caller_type = issuer_arn, text(issuer, "type", limit=64)
    account = (
        account_of(role_arn)
        or account_of(session_arn)
        or _account(rec.identity.get("accountId"))
        or _account(issuer.get("accountId"))
    )
    if account is None:
        return None
    name = session_arn.rsplit("/", 1)[-1][:64] if session_arn and "/" in session_arn else None
    assumed = {
        "event_time": created,
        "account_id": account,
        "session_id": key,
        "role_arn": role_arn,
        "session_name": name or None,
        "session_arn": session_arn,
        "via": AssumeVia.INFERRED,
        "caller_arn": caller_arn,
        "caller_type": caller_type,
        "source_identity": text(context, "sourceIdentity", limit=64),
        "mfa_authenticated": flag(attributes, "mfaAuthenticated"),
    }
    credential = {
        "event_time": created,
        "account_id": account,
        "session_id": key,
        "access_key_id": key,
        "issued_at": created,
    }
    return [
        (f"ct-inferred:{key}", (RoleAssumed, assumed)),
        (f"ct-inferred:{key}#credential", (CredentialIssued, credential)),
    ]


def _account(value: Any) -> str | None:
    if isinstance(value, str) and len(value) == 12 and value.isdigit():
        return value
    return None
