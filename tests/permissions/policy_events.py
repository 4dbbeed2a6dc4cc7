"""Small readable builders for PolicyChanged events and policy documents in tests."""

from __future__ import annotations

import itertools
import json
from typing import Any

from pipeline.events import EventSource, PolicyChanged, PolicyChangeType, PolicyTargetType
from tests.builders import ACCOUNT, at, role

C = PolicyChangeType
_ids = itertools.count(1)


def user(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def group(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:group/{name}"


def managed(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy/{name}"


def allow(*actions: str, resource: str = "*", sid: str | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    if sid:
        statement["Sid"] = sid
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def deny(*actions: str, resource: str = "*") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": list(actions), "Resource": resource}],
        }
    )


def changed(
    target: str, change: PolicyChangeType, minute: float = 0, **fields: Any
) -> PolicyChanged:
    kind = (
        PolicyTargetType.USER
        if ":user/" in target
        else PolicyTargetType.GROUP
        if ":group/" in target
        else PolicyTargetType.MANAGED_POLICY
        if ":policy/" in target
        else PolicyTargetType.ROLE
    )
    return PolicyChanged(
        event_id=f"p-{next(_ids)}",
        event_time=at(minute),
        account_id=ACCOUNT,
        source=EventSource.API,
        target_type=kind,
        target_arn=target,
        change_type=change,
        **fields,
    )


def attach(target: str, policy_arn: str, minute: float = 0) -> PolicyChanged:
    return changed(target, C.ATTACH_MANAGED_POLICY, minute, policy_arn=policy_arn)


def detach(target: str, policy_arn: str, minute: float = 0) -> PolicyChanged:
    return changed(target, C.DETACH_MANAGED_POLICY, minute, policy_arn=policy_arn)


def put_inline(target: str, name: str, document: str, minute: float = 0) -> PolicyChanged:
    return changed(target, C.PUT_INLINE_POLICY, minute, policy_name=name, policy_document=document)


def delete_inline(target: str, name: str, minute: float = 0) -> PolicyChanged:
    return changed(target, C.DELETE_INLINE_POLICY, minute, policy_name=name)


def version(
    policy_arn: str, version_id: str, document: str, minute: float = 0, *, default: bool
) -> PolicyChanged:
    return changed(
        policy_arn,
        C.CREATE_POLICY_VERSION,
        minute,
        policy_arn=policy_arn,
        policy_version_id=version_id,
        policy_document=document,
        set_as_default=default,
    )


def set_default(policy_arn: str, version_id: str, minute: float = 0) -> PolicyChanged:
    return changed(
        policy_arn,
        C.SET_DEFAULT_POLICY_VERSION,
        minute,
        policy_arn=policy_arn,
        policy_version_id=version_id,
    )


def boundary(target: str, policy_arn: str | None, minute: float = 0) -> PolicyChanged:
    if policy_arn is None:
        return changed(target, C.DELETE_PERMISSIONS_BOUNDARY, minute)
    return changed(target, C.SET_PERMISSIONS_BOUNDARY, minute, policy_arn=policy_arn)


def membership(
    user_arn: str, group_name: str, minute: float = 0, *, add: bool = True
) -> PolicyChanged:
    change = C.ADD_USER_TO_GROUP if add else C.REMOVE_USER_FROM_GROUP
    return changed(user_arn, change, minute, group_name=group_name)


__all__ = ["ACCOUNT", "at", "role"]
