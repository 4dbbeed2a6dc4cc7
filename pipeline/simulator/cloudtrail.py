"""Renders the simulated organization's events as real-shaped CloudTrail log files.

The simulator's event stream is written back into the records AWS would have delivered:
AssumeRoleWithSAML, AssumeRole (chained ones carry the caller's ASIA key and
sessionContext), AssumeRoleWithWebIdentity, EC2's service AssumeRole, ConsoleLogin,
SwitchRole (both published shapes) and ExitRole, calls with sessionContext (a root or
IAM user's console keys carry the sign-in's creationDate), a failed
AssumeRole, PutRolePolicy AWSRevokeOlderSessions and Attach/DetachRolePolicy. Files are
gzipped `{"Records": [...]}` in the S3 layout, one per account, region and 5-minute
delivery window.

What CloudTrail cannot carry, and so does not survive a round trip:
- the access key of a console switch-role session (SwitchRole names no key; the calls
  made with it become a session inferred from their sessionContext);
- a resource of `*` (CloudTrail lists no resource for such calls);
- the requested duration of a service-issued session (EC2 sends none);
- SessionsRevoked itself: it is the PutRolePolicy AWSRevokeOlderSessions record.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pipeline.cloudtrail.times import format_expiration
from pipeline.events import (
    AccessOutcome,
    AccessRecorded,
    AssumeVia,
    CredentialIssued,
    Event,
    PolicyChanged,
    PolicyChangeType,
    RoleAssumed,
    RoleExited,
    SessionsRevoked,
)
from pipeline.timeutil import iso

_CONSOLE = (AssumeVia.CONSOLE_SWITCH_ROLE, AssumeVia.CONSOLE_SIGN_IN)  # no issuing record
WINDOW = timedelta(minutes=5)
REGION = "us-east-1"
_NS = uuid.UUID("5f0c4a4e-3f1e-4a57-9a53-1f2b9b6e7c11")


def _uuid5(name: str) -> str:
    """str(uuid.uuid5(_NS, name)), without building UUID objects (a third of rendering)."""
    b = bytearray(hashlib.sha1(_NS.bytes + name.encode()).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50
    b[8] = (b[8] & 0x3F) | 0x80
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def record_event_id(event_id: str) -> str:
    """The `eventID` of the record an event is rendered as (`ct:<eventID>` once imported)."""
    return _uuid5(event_id)


@dataclass(frozen=True, slots=True)
class _Known:
    """What later records of a session repeat in their userIdentity."""

    session_arn: str
    role_arn: str | None
    account: str
    start: datetime
    mfa: bool | None
    source_identity: str | None
    via: AssumeVia
    caller_type: str | None


def _digest(*parts: str, size: int = 16) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:size].upper()


def _account(arn: str | None) -> str:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 4 and parts[4] else "000000000000"


class CloudTrailWriter:
    """Accepts simulator events in time order; writes CloudTrail files under `root`."""

    def __init__(self, root: Path, *, compresslevel: int = 5) -> None:
        self.root = Path(root)
        self.compresslevel = compresslevel
        self.records = 0
        self.files = 0
        self._known: dict[str, _Known] = {}
        self._pending: dict[str, RoleAssumed] = {}
        # Console switches by lifecycle key: their exits name nothing else.
        self._switches: dict[str, tuple[str, str]] = {}
        self._buffers: dict[tuple[str, str, datetime], list[dict[str, Any]]] = {}
        self._window: datetime | None = None

    # -- output ---------------------------------------------------------------------

    def _put(self, event: Event, record: dict[str, Any]) -> None:
        start = event.event_time.replace(second=0, microsecond=0)
        start -= timedelta(minutes=start.minute % 5)
        if self._window is not None and start > self._window:
            self._flush(before=start)
        self._window = start if self._window is None else max(self._window, start)
        key = (record["recipientAccountId"], record["awsRegion"], start)
        self._buffers.setdefault(key, []).append(record)
        self.records += 1

    def _flush(self, before: datetime | None = None) -> None:
        for key in sorted(k for k in self._buffers if before is None or k[2] < before):
            account, region, start = key
            delivered = start + WINDOW
            folder = (
                self.root
                / "AWSLogs"
                / account
                / "CloudTrail"
                / region
                / delivered.strftime("%Y/%m/%d")
            )
            folder.mkdir(parents=True, exist_ok=True)
            stamp = delivered.strftime("%Y%m%dT%H%MZ")
            name = (
                f"{account}_CloudTrail_{region}_{stamp}_{_digest(account, region, stamp)}.json.gz"
            )
            records = self._buffers.pop(key)
            payload = json.dumps({"Records": records}, separators=(",", ":")).encode()
            path = folder / name
            if path.exists():  # a late record for a window already written: its own file
                path = folder / name.replace(".json.gz", f"{self.files}.json.gz")
            path.write_bytes(gzip.compress(payload, compresslevel=self.compresslevel, mtime=0))
            self.files += 1

    def close(self) -> None:
        self._flush()

    def write(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)
        self.close()

    # -- events -> records -----------------------------------------------------------

    def add(self, event: Event) -> None:
        if isinstance(event, RoleAssumed):
            if event.via is AssumeVia.CONSOLE_SIGN_IN:
                self._put(event, self._console_login(event))
                self._pending[event.session_id] = event  # for a console key, if one comes
            elif event.via is AssumeVia.CONSOLE_SWITCH_ROLE:
                self._put(event, self._switch_role(event))
                self._pending[event.session_id] = event
            else:
                self._pending[event.session_id] = event
        elif isinstance(event, CredentialIssued):
            assumed = self._pending.pop(event.session_id, None)
            if assumed is None:
                return
            self._known[event.access_key_id] = _Known(
                session_arn=assumed.session_arn or "",
                role_arn=assumed.role_arn,
                account=assumed.account_id,
                start=event.issued_at,
                mfa=assumed.mfa_authenticated,
                source_identity=assumed.source_identity,
                via=assumed.via,
                caller_type=assumed.caller_type,
            )
            if assumed.via not in _CONSOLE:
                self._put(event, self._issuer(assumed, event))
        elif isinstance(event, RoleExited) and event.lifecycle_key:
            self._put(event, self._exit_role(event))
        elif isinstance(event, AccessRecorded):
            self._put(event, self._call(event))
        elif isinstance(event, PolicyChanged):
            self._put(event, self._policy(event))
        elif isinstance(event, SessionsRevoked):
            return  # carried by its PutRolePolicy AWSRevokeOlderSessions record

    def _base(
        self, event: Event, name: str, source: str, identity: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        event_id = _uuid5(event.event_id)
        record: dict[str, Any] = {
            "eventVersion": "1.08",
            "userIdentity": identity,
            "eventTime": iso(event.event_time),
            "eventSource": source,
            "eventName": name,
            "awsRegion": REGION,
            "sourceIPAddress": None,
            "userAgent": None,
            "requestParameters": None,
            "responseElements": None,
            "requestID": _uuid5("request" + event.event_id),
            "eventID": event_id,
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": event.account_id,
            "eventCategory": "Management",
        }
        record.update(fields)
        return record

    def _session_identity(self, key: str, fallback_arn: str | None) -> dict[str, Any]:
        known = self._known.get(key)
        if known is None:
            return {"type": "AssumedRole", "arn": fallback_arn, "accessKeyId": key}
        if known.via is AssumeVia.CONSOLE_SIGN_IN:
            # A sign-in's console key: the user or root, with the sign-in as creationDate
            # and an empty sessionIssuer (IAM_REFERENCE.md 2a).
            return {
                **self._principal(known.session_arn, known.caller_type),
                "accessKeyId": key,
                "sessionContext": {
                    "sessionIssuer": {},
                    "webIdFederationData": {},
                    "attributes": {
                        "creationDate": iso(known.start),
                        "mfaAuthenticated": "true" if known.mfa else "false",
                    },
                },
            }
        role_name = (known.role_arn or "").rsplit("/", 1)[-1]
        role_id = "AROA" + _digest(known.role_arn or "", size=17)
        context: dict[str, Any] = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": known.role_arn,
                "accountId": known.account,
                "userName": role_name,
            },
            "webIdFederationData": {},
            "attributes": {
                "creationDate": iso(known.start),
                "mfaAuthenticated": "true" if known.mfa else "false",
            },
        }
        if known.source_identity:
            context["sourceIdentity"] = known.source_identity
        if known.via is AssumeVia.AWS_SERVICE:
            context["ec2RoleDelivery"] = "2.0"
        return {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{known.session_arn.rsplit('/', 1)[-1]}",
            "arn": known.session_arn,
            "accountId": known.account,
            "accessKeyId": key,
            "sessionContext": context,
        }

    def _issuer(self, a: RoleAssumed, c: CredentialIssued) -> dict[str, Any]:
        token = "FQoGZXIvYXdzE" + _digest("token", c.access_key_id, size=48)
        response: dict[str, Any] = {
            "credentials": {
                "accessKeyId": c.access_key_id,
                "sessionToken": token,
                "expiration": format_expiration(c.expires_at or c.issued_at + timedelta(hours=1)),
            },
            "assumedRoleUser": {
                "assumedRoleId": "AROA" + _digest(a.role_arn or "", size=17) + f":{a.session_name}",
                "arn": a.session_arn,
            },
        }
        request: dict[str, Any] = {"roleArn": a.role_arn, "roleSessionName": a.session_name}
        fields: dict[str, Any] = {
            "sourceIPAddress": a.source_ip,
            "userAgent": a.user_agent,
            "readOnly": True,
            "resources": [
                {"accountId": _account(a.role_arn), "type": "AWS::IAM::Role", "ARN": a.role_arn}
            ],
        }
        if a.via is AssumeVia.AWS_SERVICE:
            identity: dict[str, Any] = {"type": "AWSService", "invokedBy": a.caller_arn}
            fields["sharedEventID"] = _uuid5("shared" + a.event_id)
            return self._base(
                a,
                "AssumeRole",
                "sts.amazonaws.com",
                identity,
                requestParameters=request,
                responseElements=response,
                **fields,
            )
        request["durationSeconds"] = a.requested_duration_seconds
        if a.source_identity:
            response["sourceIdentity"] = a.source_identity
        if a.via is AssumeVia.SAML:
            provider, _, subject = (a.caller_arn or "").partition("#")
            identity = {
                "type": "SAMLUser",
                "principalId": f"{_digest(provider, size=20)}:{subject}",
                "userName": subject,
                "identityProvider": provider,
            }
            request.update(
                sAMLAssertionID="_" + _digest("assertion", a.event_id, size=32).lower(),
                principalArn=provider,
                principalTags=dict(a.session_tags),
                transitiveTagKeys=list(a.transitive_tag_keys),
            )
            response.update(
                subject=subject,
                subjectType="persistent",
                issuer="http://www.okta.com/exk1acme",
                audience="https://signin.aws.amazon.com/saml",
                nameQualifier=_digest(provider, size=20),
            )
            return self._base(
                a,
                "AssumeRoleWithSAML",
                "sts.amazonaws.com",
                identity,
                requestParameters=request,
                responseElements=response,
                **fields,
            )
        if a.via is AssumeVia.WEB_IDENTITY:
            provider, _, subject = (a.caller_arn or "").partition("#")
            issuer = provider.split("oidc-provider/", 1)[-1]
            identity = {
                "type": "WebIdentityUser",
                "principalId": f"{issuer}:sts.amazonaws.com:{subject}",
                "userName": subject,
                "identityProvider": issuer,
            }
            request["principalTags"] = dict(a.session_tags)
            response.update(
                subjectFromWebIdentityToken=subject, provider=provider, audience="sts.amazonaws.com"
            )
            return self._base(
                a,
                "AssumeRoleWithWebIdentity",
                "sts.amazonaws.com",
                identity,
                requestParameters=request,
                responseElements=response,
                **fields,
            )
        # AssumeRole by a user or a session (chained: the caller's ASIA key and context)
        if a.caller_access_key_id:
            identity = self._session_identity(a.caller_access_key_id, a.caller_arn)
        else:
            identity = {
                "type": a.caller_type,
                "arn": a.caller_arn,
                "accountId": _account(a.caller_arn),
            }
        if a.session_tags:
            request["tags"] = [{"key": k, "value": v} for k, v in sorted(a.session_tags.items())]
        if a.transitive_tag_keys:
            request["transitiveTagKeys"] = list(a.transitive_tag_keys)
        if a.session_policy:
            request["policy"] = a.session_policy
        if a.session_policy_arns:
            request["policyArns"] = [{"arn": arn} for arn in a.session_policy_arns]
        if a.source_identity:
            request["sourceIdentity"] = a.source_identity
        if a.mfa_authenticated:
            who = a.source_identity or a.session_name or "user"
            request["serialNumber"] = f"arn:aws:iam::{_account(a.caller_arn)}:mfa/{who}"
        return self._base(
            a,
            "AssumeRole",
            "sts.amazonaws.com",
            identity,
            requestParameters=request,
            responseElements=response,
            **fields,
        )

    def _user(self, arn: str) -> dict[str, Any]:
        return {
            "type": "IAMUser",
            "principalId": "AIDA" + _digest(arn, size=17),
            "arn": arn,
            "accountId": _account(arn),
            "userName": arn.rsplit("/", 1)[-1],
        }

    def _principal(self, arn: str, kind: str | None) -> dict[str, Any]:
        if kind == "Root":
            account = _account(arn)
            return {"type": "Root", "principalId": account, "arn": arn, "accountId": account}
        return self._user(arn)

    def _console_login(self, a: RoleAssumed) -> dict[str, Any]:
        return self._base(
            a,
            "ConsoleLogin",
            "signin.amazonaws.com",
            self._principal(a.caller_arn or "", a.caller_type),
            eventType="AwsConsoleSignIn",
            sourceIPAddress=a.source_ip,
            userAgent=a.user_agent,
            responseElements={"ConsoleLogin": "Success"},
            additionalEventData={
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "Yes" if a.mfa_authenticated else "No",
            },
        )

    def _switch_role(self, a: RoleAssumed) -> dict[str, Any]:
        user = a.caller_arn or ""
        if a.lifecycle_key:  # its ExitRole names only the lifecycle key
            self._switches[a.lifecycle_key] = (user, a.role_arn or "")
        mfa = "true" if a.mfa_authenticated else "false"
        fields: dict[str, Any] = {
            "eventType": "AwsConsoleSignIn",
            "sourceIPAddress": a.source_ip,
            "userAgent": a.user_agent,
            "responseElements": {"SwitchRole": "Success"},
        }
        redirect = "https://console.aws.amazon.com/console/home"
        if int(_digest(a.event_id, size=2), 16) % 2:
            # shape (b): the user's view, naming the role switched to
            identity = {
                **self._user(user),
                "sessionContext": {"attributes": {"mfaAuthenticated": mfa}},
            }
            fields["additionalEventData"] = {"SwitchTo": a.role_arn, "RedirectTo": redirect}
        else:
            # shape (a): the new session's identity, naming where it came from
            role_id = "AROA" + _digest(a.role_arn or "", size=17)
            identity = {
                "type": "AssumedRole",
                "principalId": f"{role_id}:{a.session_name}",
                "arn": a.session_arn,
                "accountId": a.account_id,
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": role_id,
                        "arn": a.role_arn,
                        "accountId": a.account_id,
                        "userName": (a.role_arn or "").rsplit("/", 1)[-1],
                    },
                    "attributes": {"mfaAuthenticated": mfa, "creationDate": iso(a.event_time)},
                },
            }
            fields["additionalEventData"] = {"SwitchFrom": user, "RedirectTo": redirect}
        return self._base(a, "SwitchRole", "signin.amazonaws.com", identity, **fields)

    def _exit_role(self, e: RoleExited) -> dict[str, Any]:
        user, role = self._switches.pop(e.lifecycle_key or "", ("", ""))
        return self._base(
            e,
            "ExitRole",
            "signin.amazonaws.com",
            self._user(user),
            eventType="AwsConsoleSignIn",
            responseElements={"ExitRole": "Success"},
            additionalEventData={
                "SwitchFrom": role,
                "RedirectTo": "https://console.aws.amazon.com/console/home",
            },
        )

    def _call(self, e: AccessRecorded) -> dict[str, Any]:
        prefix, _, name = e.action.partition(":")
        identity = self._session_identity(e.access_key_id or "", e.principal_arn)
        fields: dict[str, Any] = {
            "sourceIPAddress": e.source_ip,
            "userAgent": e.user_agent,
            "awsRegion": e.region or REGION,
            "readOnly": name.startswith(("Get", "List", "Describe", "Filter")),
        }
        known = self._known.get(e.access_key_id or "")
        if known is not None and known.via in _CONSOLE:
            fields["sessionCredentialFromConsole"] = "true"
        if e.outcome is AccessOutcome.DENIED:
            fields["errorCode"] = e.error_code or "AccessDenied"
            fields["errorMessage"] = (
                f"User: {e.principal_arn} is not authorized to perform: {e.action}"
                + (f" on resource: {e.resources[0]}" if e.resources else "")
            )
        resources = [r for r in e.resources if r != "*"]
        if prefix == "sts" and name.startswith("AssumeRole"):
            return self._base(e, name, "sts.amazonaws.com", identity, **fields)
        if resources:
            fields["resources"] = [{"ARN": r} for r in resources]
        if prefix == "s3" and resources:
            bucket, _, key = resources[0].split(":::", 1)[-1].partition("/")
            fields["requestParameters"] = {"bucketName": bucket, **({"key": key} if key else {})}
            fields["eventCategory"] = "Data"
            fields["managementEvent"] = False
        return self._base(e, name, f"{prefix}.amazonaws.com", identity, **fields)

    def _policy(self, p: PolicyChanged) -> dict[str, Any]:
        role_name = p.target_arn.rsplit("/", 1)[-1]
        admin = "security-admin" if p.policy_name == "AWSRevokeOlderSessions" else "terraform"
        identity = {
            **self._user(f"arn:aws:iam::{p.account_id}:user/{admin}"),
            "accessKeyId": "AKIA" + _digest(p.account_id, admin, size=16),
        }
        request: dict[str, Any] = {"roleName": role_name}
        name = {
            PolicyChangeType.ATTACH_MANAGED_POLICY: "AttachRolePolicy",
            PolicyChangeType.DETACH_MANAGED_POLICY: "DetachRolePolicy",
            PolicyChangeType.PUT_INLINE_POLICY: "PutRolePolicy",
            PolicyChangeType.DELETE_INLINE_POLICY: "DeleteRolePolicy",
        }.get(p.change_type, "PutRolePolicy")
        if p.policy_arn:
            request["policyArn"] = p.policy_arn
        if p.policy_name:
            request["policyName"] = p.policy_name
        if p.policy_document:
            request["policyDocument"] = quote(p.policy_document, safe="")
        return self._base(
            p,
            name,
            "iam.amazonaws.com",
            identity,
            sourceIPAddress="203.0.113.10",
            userAgent="terraform/1.7.0" if admin == "terraform" else "AWS Internal",
            requestParameters=request,
        )


def write_cloudtrail(events: Iterable[Event], root: Path) -> CloudTrailWriter:
    """Render `events` (in time order) as CloudTrail files under `root`."""
    writer = CloudTrailWriter(root)
    writer.write(events)
    return writer
