"""Small builders for readable policy fixtures."""

from __future__ import annotations

from typing import Any

V2012 = "2012-10-17"

JsonDict = dict[str, Any]


def statement(
    effect: str,
    action: str | list[str] | None = "*",
    resource: str | list[str] | None = "*",
    *,
    sid: str | None = None,
    not_action: str | list[str] | None = None,
    not_resource: str | list[str] | None = None,
    condition: JsonDict | None = None,
    principal: Any = None,
) -> JsonDict:
    out: JsonDict = {"Effect": effect}
    if sid is not None:
        out["Sid"] = sid
    if not_action is not None:
        out["NotAction"] = not_action
    elif action is not None:
        out["Action"] = action
    if not_resource is not None:
        out["NotResource"] = not_resource
    elif resource is not None:
        out["Resource"] = resource
    if condition is not None:
        out["Condition"] = condition
    if principal is not None:
        out["Principal"] = principal
    return out


def allow(
    action: str | list[str] | None = "*", resource: str | list[str] | None = "*", **kw: Any
) -> JsonDict:
    return statement("Allow", action, resource, **kw)


def deny(
    action: str | list[str] | None = "*", resource: str | list[str] | None = "*", **kw: Any
) -> JsonDict:
    return statement("Deny", action, resource, **kw)


def policy(*statements: JsonDict, version: str | None = V2012) -> JsonDict:
    out: JsonDict = {"Statement": list(statements)}
    if version is not None:
        out["Version"] = version
    return out


ADMIN = policy(allow(sid="AdminAll"))


def revoke_older_sessions(watermark: str) -> tuple[str, JsonDict]:
    """The inline policy the console's "Revoke active sessions" button writes."""
    return (
        "AWSRevokeOlderSessions",
        {
            "Version": V2012,
            "Statement": {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": watermark}},
            },
        },
    )
