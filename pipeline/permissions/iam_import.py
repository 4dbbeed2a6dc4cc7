"""`aws iam get-account-authorization-details` output as PolicyChanged events.

The snapshot says what was in force at one moment (`as_of`): every attached managed
policy, inline policy, boundary, trust policy, tag set and group membership becomes one
PolicyChanged event at that time, and every managed policy version one
CREATE_POLICY_VERSION (with `set_as_default` from `IsDefaultVersion`). Documents may be
URL-encoded JSON strings (the raw API) or objects (the CLI decodes them); both are stored
as compact JSON text. Event ids are hashes of the as-of time and the event's content, so
importing the same snapshot again changes nothing.

The whole file is read and checked before anything is emitted: a malformed file emits
nothing and raises `IamImportError` naming the place.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pipeline.events import (
    EventSource,
    PolicyChanged,
    PolicyChangeType,
    PolicyTargetType,
)
from pipeline.permissions.errors import IamImportError
from pipeline.policy import PolicyDocumentError, parse_policy
from pipeline.timeutil import iso

C = PolicyChangeType
_SECTIONS = ("RoleDetailList", "UserDetailList", "GroupDetailList", "Policies")


@dataclass
class IamSnapshot:
    """The events of one snapshot, and what they cover."""

    as_of: datetime
    account_id: str | None = None
    events: list[PolicyChanged] = field(default_factory=list)
    covers: set[str] = field(default_factory=set)  # target types whose section was present
    targets: Counter[str] = field(default_factory=Counter)


def read_snapshot(path: str | Path) -> Mapping[str, Any]:
    """Load a file as JSON, with one clean error for a missing or malformed file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise IamImportError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IamImportError(f"{p}: cannot read it: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IamImportError(f"{p}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict) or not any(k in data for k in _SECTIONS):
        raise IamImportError(
            f"{p}: not the output of `aws iam get-account-authorization-details` "
            f"(expected an object with {', '.join(_SECTIONS)})"
        )
    return data


def snapshot_events(
    data: Mapping[str, Any], *, as_of: datetime, account_id: str | None = None
) -> IamSnapshot:
    """Turn a decoded authorization-details document into PolicyChanged events."""
    builder = _Builder(as_of, account_id or _first_account(data))
    sections = zip(_SECTIONS, ("ROLE", "USER", "GROUP", "MANAGED_POLICY"), strict=True)
    builder.snapshot.covers = {kind for key, kind in sections if key in data}
    for i, role in enumerate(_list(data, "RoleDetailList", "")):
        builder.principal(role, f"RoleDetailList[{i}]", PolicyTargetType.ROLE, "RolePolicyList")
    for i, user in enumerate(_list(data, "UserDetailList", "")):
        where = f"UserDetailList[{i}]"
        arn = builder.principal(user, where, PolicyTargetType.USER, "UserPolicyList")
        for j, group in enumerate(_list(user, "GroupList", where)):
            if not isinstance(group, str) or not group:
                raise IamImportError(f"{where}.GroupList[{j}]: a group name must be a string")
            builder.add(PolicyTargetType.USER, arn, C.ADD_USER_TO_GROUP, group_name=group)
    for i, group in enumerate(_list(data, "GroupDetailList", "")):
        builder.principal(group, f"GroupDetailList[{i}]", PolicyTargetType.GROUP, "GroupPolicyList")
    for i, policy in enumerate(_list(data, "Policies", "")):
        builder.managed_policy(policy, f"Policies[{i}]")
    return builder.snapshot


class _Builder:
    def __init__(self, as_of: datetime, account_id: str | None) -> None:
        self.snapshot = IamSnapshot(as_of, account_id)

    def add(
        self, target_type: PolicyTargetType, arn: str, change: PolicyChangeType, **fields: Any
    ) -> None:
        self.snapshot.events.append(
            snapshot_event(self.snapshot, target_type, arn, change, **fields)
        )

    def principal(self, item: object, where: str, kind: PolicyTargetType, inline_key: str) -> str:
        entry = _object(item, where)
        arn = _string(entry, "Arn", where)
        self.snapshot.targets[kind.value] += 1
        for j, attached in enumerate(_list(entry, "AttachedManagedPolicies", where)):
            place = f"{where}.AttachedManagedPolicies[{j}]"
            policy_arn = _string(_object(attached, place), "PolicyArn", place)
            name = _optional(attached, "PolicyName", place)
            self.add(kind, arn, C.ATTACH_MANAGED_POLICY, policy_arn=policy_arn, policy_name=name)
        for j, inline in enumerate(_list(entry, inline_key, where)):
            place = f"{where}.{inline_key}[{j}]"
            body = _object(inline, place)
            name = _string(body, "PolicyName", place)
            document = _document(body.get("PolicyDocument"), f"{place}.PolicyDocument")
            self.add(kind, arn, C.PUT_INLINE_POLICY, policy_name=name, policy_document=document)
        boundary = entry.get("PermissionsBoundary")
        if boundary is not None:
            place = f"{where}.PermissionsBoundary"
            policy_arn = _string(_object(boundary, place), "PermissionsBoundaryArn", place)
            self.add(kind, arn, C.SET_PERMISSIONS_BOUNDARY, policy_arn=policy_arn)
        trust = entry.get("AssumeRolePolicyDocument")
        if trust is not None:
            document = _document(trust, f"{where}.AssumeRolePolicyDocument")
            self.add(kind, arn, C.UPDATE_TRUST_POLICY, policy_document=document)
        tags = _tags(entry, where)
        if tags:
            # PolicyChanged has no tag field: tags ride as an OTHER change named "Tags".
            self.add(kind, arn, C.OTHER, policy_name="Tags", policy_document=json.dumps(tags))
        return arn

    def managed_policy(self, item: object, where: str) -> None:
        entry = _object(item, where)
        arn = _string(entry, "Arn", where)
        name = _optional(entry, "PolicyName", where)
        default = _optional(entry, "DefaultVersionId", where)
        self.snapshot.targets["MANAGED_POLICY"] += 1
        for j, version in enumerate(_list(entry, "PolicyVersionList", where)):
            place = f"{where}.PolicyVersionList[{j}]"
            body = _object(version, place)
            version_id = _string(body, "VersionId", place)
            is_default = body.get("IsDefaultVersion")
            if is_default is not None and not isinstance(is_default, bool):
                raise IamImportError(f"{place}.IsDefaultVersion: must be true or false")
            self.add(
                PolicyTargetType.MANAGED_POLICY,
                arn,
                C.CREATE_POLICY_VERSION,
                policy_arn=arn,
                policy_name=name,
                policy_version_id=version_id,
                policy_document=_document(body.get("Document"), f"{place}.Document"),
                set_as_default=bool(is_default)
                if is_default is not None
                else version_id == default,
            )


def snapshot_event(
    snapshot: IamSnapshot,
    target_type: PolicyTargetType,
    arn: str,
    change: PolicyChangeType,
    **fields: Any,
) -> PolicyChanged:
    """One event of a snapshot, its id a hash of the as-of time and its content."""
    account = _account_of(arn) or snapshot.account_id
    if account is None:
        raise IamImportError(f"{arn}: no account id in the ARN; pass --account")
    body = [iso(snapshot.as_of), target_type.value, arn, change.value, sorted(fields.items())]
    digest = hashlib.sha256(json.dumps(body, default=str).encode()).hexdigest()[:32]
    try:
        return PolicyChanged(
            event_id=f"iam:{digest}",
            event_time=snapshot.as_of,
            account_id=account,
            source=EventSource.API,
            target_type=target_type,
            target_arn=arn,
            change_type=change,
            **fields,
        )
    except ValueError as exc:
        raise IamImportError(f"{arn}: {exc}") from None


def _first_account(data: Mapping[str, Any]) -> str | None:
    for section in _SECTIONS:
        items = data.get(section)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("Arn"), str):
                account = _account_of(item["Arn"])
                if account:
                    return account
    return None


def _account_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) >= 6 and parts[4].isdigit() and len(parts[4]) == 12 else None


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise IamImportError(f"{where}: expected an object")
    return value


def _list(entry: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = entry.get(key, [])
    if not isinstance(value, list):
        raise IamImportError(f"{where + '.' if where else ''}{key}: expected a list")
    return value


def _string(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise IamImportError(f"{where}: missing {key!r} (a non-empty string)")
    return value


def _optional(entry: object, key: str, where: str) -> str | None:
    value = entry.get(key) if isinstance(entry, dict) else None
    if value is not None and not isinstance(value, str):
        raise IamImportError(f"{where}.{key}: must be a string")
    return value or None


def _tags(entry: Mapping[str, Any], where: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for j, tag in enumerate(_list(entry, "Tags", where)):
        place = f"{where}.Tags[{j}]"
        body = _object(tag, place)
        tags[_string(body, "Key", place)] = str(body.get("Value", ""))
    return tags


def _document(value: object, where: str) -> str:
    """A policy document as compact JSON text, checked to be a valid IAM policy."""
    if value is None:
        raise IamImportError(f"{where}: missing policy document")
    if isinstance(value, str):
        text = unquote(value) if value.lstrip()[:3].lower() == "%7b" else value
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IamImportError(f"{where}: not a JSON policy document ({exc.msg})") from None
    if not isinstance(value, dict):
        raise IamImportError(f"{where}: a policy document must be a JSON object")
    try:
        parse_policy(value)
    except PolicyDocumentError as exc:
        raise IamImportError(f"{where}: {exc}") from None
    return json.dumps(value, separators=(",", ":"))
