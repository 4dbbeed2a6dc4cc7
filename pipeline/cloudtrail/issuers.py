"""The STS calls that issue temporary credentials -> RoleAssumed + CredentialIssued.

AssumeRole (by a user, a session, or an AWS service such as EC2, Lambda or ECS),
AssumeRoleWithSAML, AssumeRoleWithWebIdentity, GetSessionToken, GetFederationToken.
A failed call becomes a denied AccessRecorded instead: denied attempts are evidence.
Only the issued access key id is kept from `credentials`; the session token never is.
"""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta

from pipeline.cloudtrail.context import Draft, Record
from pipeline.cloudtrail.fields import (
    Unmapped,
    integer,
    obj,
    policy_arns,
    strings,
    tags,
    text,
)
from pipeline.cloudtrail.times import BadTime, parse_expiration
from pipeline.events import (
    AccessOutcome,
    AccessRecorded,
    AssumeVia,
    CredentialIssued,
    RoleAssumed,
)

ISSUERS = frozenset(
    {
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GetSessionToken",
        "GetFederationToken",
    }
)
_VIA = {
    "AssumeRole": AssumeVia.ASSUME_ROLE,
    "AssumeRoleWithSAML": AssumeVia.SAML,
    "AssumeRoleWithWebIdentity": AssumeVia.WEB_IDENTITY,
    "GetSessionToken": AssumeVia.GET_SESSION_TOKEN,
    "GetFederationToken": AssumeVia.GET_FEDERATION_TOKEN,
}
# STS defaults when the request named no duration (IAM_REFERENCE.md 1.1).
_DEFAULT_SECONDS = {"GetSessionToken": 43200, "GetFederationToken": 43200}
_ON_RESOURCE = re.compile(r"on resource: (arn:[^\s\"]+)")


def issued(rec: Record) -> list[Draft]:
    """A credential-issuing STS call (successful or failed)."""
    if rec.error_code is not None or not rec.response:
        return [_failed(rec)]
    creds = obj(rec.response, "credentials")
    key = text(creds, "accessKeyId", limit=128)
    if key is None:
        raise Unmapped("issuer without credentials")
    via = _VIA[rec.name]
    # Chains link through temporary keys; a long-term key (kept, so that it can be traced
    # to the sessions it opened) ends the chain at its IAM user, the origin.
    caller_arn, caller_type, caller_key = rec.caller_arn, rec.caller_type, rec.access_key
    role_arn = text(rec.request, "roleArn", limit=2048)
    session_arn = text(obj(rec.response, "assumedRoleUser"), "arn", limit=2048)
    session_name = text(rec.request, "roleSessionName", limit=64)
    if rec.name == "AssumeRole" and caller_type == "AWSService":
        via = AssumeVia.AWS_SERVICE
        caller_arn = text(rec.identity, "invokedBy", limit=256) or rec.source_ip
        caller_key = None
    elif rec.name == "AssumeRoleWithSAML":
        provider = text(rec.request, "principalArn", limit=2048) or text(
            rec.identity, "identityProvider", limit=2048
        )
        subject = text(rec.response, "subject", limit=1024) or text(rec.identity, "userName")
        caller_arn = _named(provider, subject)
        caller_type = caller_type or "SAMLUser"
        caller_key = None
    elif rec.name == "AssumeRoleWithWebIdentity":
        provider = text(rec.response, "provider", limit=2048) or text(
            rec.identity, "identityProvider", limit=2048
        )
        subject = text(rec.response, "subjectFromWebIdentityToken", limit=1024) or text(
            rec.identity, "userName"
        )
        caller_arn = _named(provider, subject)
        caller_type = caller_type or "WebIdentityUser"
        caller_key = None
    elif rec.name == "GetSessionToken":
        session_arn = caller_arn
    elif rec.name == "GetFederationToken":
        session_arn = text(obj(rec.response, "federatedUser"), "arn", limit=2048)
        session_name = text(rec.request, "name", limit=64)
    if role_arn is None and rec.name.startswith("AssumeRole"):
        role_arn = next(iter(rec.resource_arns()), None)
    if session_name is None and session_arn is not None:
        session_name = session_arn.rsplit("/", 1)[-1][:64] or None
    duration = integer(rec.request, "durationSeconds")
    expires = None
    with contextlib.suppress(BadTime):
        expires = parse_expiration(creds.get("expiration"))
    if expires is None or expires <= rec.time:
        # Cross-check: what STS must have granted when the expiration is unreadable.
        seconds = duration or _DEFAULT_SECONDS.get(rec.name, 3600)
        expires = rec.time + timedelta(seconds=seconds)
    source_identity = text(rec.request, "sourceIdentity", limit=64) or text(
        rec.response, "sourceIdentity", limit=64
    )
    mfa = True if text(rec.request, "serialNumber", limit=256) else None
    assumed = {
        "session_id": key,
        "role_arn": role_arn,
        "session_name": session_name,
        "session_arn": session_arn,
        "via": via,
        "caller_arn": caller_arn,
        "caller_type": caller_type,
        "caller_access_key_id": caller_key,
        "source_identity": source_identity,
        "session_tags": tags(rec.request),
        "transitive_tag_keys": strings(rec.request, "transitiveTagKeys"),
        "session_policy": text(rec.request, "policy", limit=200_000),
        "session_policy_arns": policy_arns(rec.request),
        "mfa_authenticated": mfa,
        "source_ip": rec.source_ip,
        "user_agent": rec.user_agent,
        "requested_duration_seconds": duration,
    }
    credential = {
        "session_id": key,
        "access_key_id": key,
        "issued_at": rec.time,
        "expires_at": expires,
    }
    return [(RoleAssumed, assumed), (CredentialIssued, credential)]


def _named(provider: str | None, subject: str | None) -> str | None:
    """A federated person: `<provider ARN>#<subject>`."""
    if provider and subject:
        return f"{provider}#{subject}"
    return provider or subject


def _failed(rec: Record) -> Draft:
    target = text(rec.request, "roleArn", limit=2048) or next(iter(rec.resource_arns()), None)
    if target is None:
        found = _ON_RESOURCE.search(text(rec.raw, "errorMessage", limit=4096) or "")
        target = found.group(1) if found else None
    principal = rec.caller_arn
    if principal is None and rec.name == "AssumeRoleWithSAML":
        principal = text(rec.request, "principalArn", limit=2048)
    return (
        AccessRecorded,
        {
            "access_key_id": rec.access_key,
            "principal_arn": principal,
            "action": f"sts:{rec.name}",
            "resources": [target] if target else [],
            # Whatever the error, no credentials were issued: a denied attempt.
            "outcome": AccessOutcome.DENIED,
            "error_code": rec.error_code or "NoCredentialsIssued",
            "source_ip": rec.source_ip,
            "user_agent": rec.user_agent,
            "region": rec.region,
        },
    )
