"""The policies in force for one principal at one moment, documents resolved.

A role's or user's inline policies come with their documents; a managed policy is
resolved to the document of its default version in force at T from the history, else to
the built-in catalogue of well-known AWS managed policies, else it is *unknown* and says
so. A user also carries the policies of the groups it belonged to at T.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import duckdb

from pipeline.permissions import history
from pipeline.permissions.catalogue import catalogued, policy_name_of
from pipeline.policy import PolicyLike

Origin = Literal["history", "catalogue", "unknown"]


@dataclass(frozen=True)
class PolicyInForce:
    """One policy in force: its name, where its document came from, and the document."""

    name: str
    kind: Literal["inline", "managed"]
    arn: str | None = None
    document: str | None = None  # None: the document is unknown
    origin: Origin = "history"
    version_id: str | None = None
    group: str | None = None  # the group it is inherited through, for users
    approximate: bool = False

    @property
    def known(self) -> bool:
        return self.document is not None

    @property
    def label(self) -> str:
        """How decisions name it: `ReadOnlyAccess`, `Admins/ReadEverything`."""
        return f"{self.group}/{self.name}" if self.group else self.name

    def as_policy(self) -> PolicyLike:
        assert self.document is not None  # callers check `known` first
        return (self.label, self.document)


@dataclass(frozen=True)
class PoliciesInForce:
    """Everything that shapes a principal's permissions at `at`."""

    principal_arn: str
    at: datetime
    identity: tuple[PolicyInForce, ...] = ()
    boundary: PolicyInForce | None = None
    groups: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    trust_policy: str | None = None
    recorded: bool = False  # the history knows this principal at all

    @property
    def unknown(self) -> tuple[PolicyInForce, ...]:
        every = (*self.identity, *((self.boundary,) if self.boundary else ()))
        return tuple(p for p in every if not p.known)


def resolve_managed(
    con: duckdb.DuckDBPyConnection, policy_arn: str, at: datetime, *, group: str | None = None
) -> PolicyInForce:
    """A managed policy's document at `at`: history first, then the catalogue."""
    name = policy_name_of(policy_arn)
    found = history.default_version(con, policy_arn, at)
    if found is not None and found[1] is not None:
        return PolicyInForce(
            name, "managed", policy_arn, found[1], "history", version_id=found[0], group=group
        )
    builtin = catalogued(policy_arn)
    if builtin is not None:
        return PolicyInForce(
            name,
            "managed",
            policy_arn,
            builtin.document,
            "catalogue",
            group=group,
            approximate=builtin.approximate,
        )
    return PolicyInForce(name, "managed", policy_arn, None, "unknown", group=group)


def _policies_of(
    con: duckdb.DuckDBPyConnection,
    items: list[history.PolicyInterval],
    at: datetime,
    group: str | None = None,
) -> list[PolicyInForce]:
    out: list[PolicyInForce] = []
    for item in items:
        if item.kind == "managed" and item.policy_arn:
            out.append(resolve_managed(con, item.policy_arn, at, group=group))
        elif item.kind == "inline":
            name = item.policy_name or "?"
            origin: Origin = "history" if item.policy_document else "unknown"
            out.append(
                PolicyInForce(name, "inline", None, item.policy_document, origin, group=group)
            )
    return out


def policies_in_force(
    con: duckdb.DuckDBPyConnection, principal_arn: str, at: datetime
) -> PoliciesInForce:
    """The identity policies (named), group policies, boundary, tags and trust policy of a
    role or IAM user at `at`, from the recorded history."""
    target_type = "USER" if ":user/" in principal_arn else "ROLE"
    target = history.resolve_target(con, principal_arn, target_type)
    if target is None:
        return PoliciesInForce(principal_arn, at)
    items = history.intervals_at(con, target, at)
    identity = _policies_of(con, items, at)
    groups = tuple(sorted(i.item for i in items if i.kind == "group" and i.item))
    account = principal_arn.split(":")[4] if principal_arn.count(":") >= 5 else ""
    for name in groups:
        group_items = history.intervals_at(con, history.group_arn(con, account, name), at)
        identity += _policies_of(con, group_items, at, group=name)
    boundary = None
    for item in items:
        if item.kind == "boundary":
            arn = item.policy_arn or ""
            boundary = resolve_managed(con, arn, at) if arn else PolicyInForce("?", "managed")
    tags: dict[str, str] = {}
    trust = None
    for item in items:
        if item.kind == "tags" and item.policy_document:
            tags = _tags(item.policy_document)
        elif item.kind == "trust":
            trust = item.policy_document
    return PoliciesInForce(
        principal_arn=principal_arn,
        at=at,
        identity=tuple(identity),
        boundary=boundary,
        groups=groups,
        tags=tags,
        trust_policy=trust,
        recorded=True,
    )


def _tags(document: str) -> dict[str, str]:
    try:
        value = json.loads(document)
    except json.JSONDecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}
