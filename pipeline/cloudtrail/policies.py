"""IAM policy changes -> PolicyChanged, and "revoke active sessions" -> SessionsRevoked.

Policy documents arrive URL-encoded or as JSON strings in `requestParameters`; they are
stored decoded. The console's "Revoke active sessions" writes the inline role policy
`AWSRevokeOlderSessions`, denying every session issued before `aws:TokenIssueTime`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from pipeline.cloudtrail.context import Draft, Record
from pipeline.cloudtrail.fields import Unmapped, flag, obj, text
from pipeline.cloudtrail.times import BadTime, parse_iso
from pipeline.events import PolicyChanged, PolicyChangeType, PolicyTargetType, SessionsRevoked

REVOKE_POLICY = "AWSRevokeOlderSessions"
_C = PolicyChangeType
# eventName -> (what the target is, which request field names it, what changed)
_CHANGES: dict[str, tuple[PolicyTargetType, str, PolicyChangeType]] = {}
for _kind, _field, _word in (
    (PolicyTargetType.ROLE, "roleName", "Role"),
    (PolicyTargetType.USER, "userName", "User"),
    (PolicyTargetType.GROUP, "groupName", "Group"),
):
    _CHANGES[f"Attach{_word}Policy"] = (_kind, _field, _C.ATTACH_MANAGED_POLICY)
    _CHANGES[f"Detach{_word}Policy"] = (_kind, _field, _C.DETACH_MANAGED_POLICY)
    _CHANGES[f"Put{_word}Policy"] = (_kind, _field, _C.PUT_INLINE_POLICY)
    _CHANGES[f"Delete{_word}Policy"] = (_kind, _field, _C.DELETE_INLINE_POLICY)
for _kind, _field, _word in (
    (PolicyTargetType.ROLE, "roleName", "Role"),
    (PolicyTargetType.USER, "userName", "User"),
):
    _CHANGES[f"Put{_word}PermissionsBoundary"] = (_kind, _field, _C.SET_PERMISSIONS_BOUNDARY)
    _CHANGES[f"Delete{_word}PermissionsBoundary"] = (
        _kind,
        _field,
        _C.DELETE_PERMISSIONS_BOUNDARY,
    )
_CHANGES["UpdateAssumeRolePolicy"] = (PolicyTargetType.ROLE, "roleName", _C.UPDATE_TRUST_POLICY)
_CHANGES["AddUserToGroup"] = (PolicyTargetType.USER, "userName", _C.ADD_USER_TO_GROUP)
_CHANGES["RemoveUserFromGroup"] = (PolicyTargetType.USER, "userName", _C.REMOVE_USER_FROM_GROUP)
_CHANGES["CreatePolicyVersion"] = (
    PolicyTargetType.MANAGED_POLICY,
    "policyArn",
    _C.CREATE_POLICY_VERSION,
)
_CHANGES["SetDefaultPolicyVersion"] = (
    PolicyTargetType.MANAGED_POLICY,
    "policyArn",
    _C.SET_DEFAULT_POLICY_VERSION,
)
POLICY_EVENTS = frozenset(_CHANGES)
_SEGMENT = {
    PolicyTargetType.ROLE: "role",
    PolicyTargetType.USER: "user",
    PolicyTargetType.GROUP: "group",
}


def decode_document(value: Any) -> str | None:
    """A policy document as JSON text, whether URL-encoded, a JSON string or an object."""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if not isinstance(value, str) or not value.strip():
        return None
    stripped = value.strip()
    if stripped.startswith("%7B") or stripped.startswith("%7b") or "%22" in stripped[:20]:
        return unquote(stripped)
    return stripped


def policy_changed(rec: Record) -> list[Draft]:
    kind, field, change = _CHANGES[rec.name]
    name = text(rec.request, field, limit=2048)
    if name is None:
        raise Unmapped(f"{rec.name} without {field}")
    target = (
        name
        if kind is PolicyTargetType.MANAGED_POLICY
        else f"arn:aws:iam::{rec.account}:{_SEGMENT[kind]}/{name}"
    )
    fields: dict[str, Any] = {"target_type": kind, "target_arn": target, "change_type": change}
    if change in (_C.ATTACH_MANAGED_POLICY, _C.DETACH_MANAGED_POLICY):
        fields["policy_arn"] = text(rec.request, "policyArn", limit=2048)
    elif change in (_C.SET_PERMISSIONS_BOUNDARY,):
        fields["policy_arn"] = text(rec.request, "permissionsBoundary", limit=2048)
    elif change in (_C.PUT_INLINE_POLICY, _C.DELETE_INLINE_POLICY):
        fields["policy_name"] = text(rec.request, "policyName", limit=128)
    if change in (_C.PUT_INLINE_POLICY, _C.UPDATE_TRUST_POLICY, _C.CREATE_POLICY_VERSION):
        fields["policy_document"] = decode_document(rec.request.get("policyDocument"))
    if change is _C.CREATE_POLICY_VERSION:
        fields["policy_arn"] = name
        fields["set_as_default"] = flag(rec.request, "setAsDefault")
        fields["policy_version_id"] = text(obj(rec.response, "policyVersion"), "versionId")
    if change is _C.SET_DEFAULT_POLICY_VERSION:
        fields["policy_arn"] = name
        fields["policy_version_id"] = text(rec.request, "versionId", limit=128)
        fields["set_as_default"] = True
    if change in (_C.ADD_USER_TO_GROUP, _C.REMOVE_USER_FROM_GROUP):
        fields["group_name"] = text(rec.request, "groupName", limit=128)
    drafts: list[Draft] = [(PolicyChanged, fields)]
    if (
        rec.name == "PutRolePolicy"
        and fields.get("policy_name") == REVOKE_POLICY
        and (before := _token_issue_time(fields.get("policy_document"))) is not None
    ):
        drafts.append((SessionsRevoked, {"role_arn": target, "issued_before": before}))
    return drafts


def _token_issue_time(document: str | None) -> Any:
    """The `DateLessThan aws:TokenIssueTime` of a revoke-older-sessions policy."""
    if not document:
        return None
    try:
        parsed = json.loads(document)
    except ValueError:
        return None
    statements = parsed.get("Statement") if isinstance(parsed, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements if isinstance(statements, list) else []:
        condition = obj(obj(statement, "Condition"), "DateLessThan")
        value = condition.get("aws:TokenIssueTime")
        if isinstance(value, list) and value:
            value = value[0]
        try:
            return parse_iso(value)
        except BadTime:
            continue
    return None
