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


class HistoryAt:
    """The whole policy history read once at `at`: three parameterized queries (the items
    in force, the default versions, the names of every target), then in-memory lookups, so
    that evaluating many sessions at one moment does not query per principal."""

    def __init__(self, con: duckdb.DuckDBPyConnection, at: datetime) -> None:
        self.at = at
        self.items: dict[str, list[history.PolicyInterval]] = {}
        for item in history.intervals_at(con, at):
            self.items.setdefault(item.target_arn, []).append(item)
        self.defaults = history.default_versions_at(con, at)
        self.targets: dict[str, str] = {}
        self._by_name: dict[tuple[str, str, str], list[str]] = {}
        for arn, kind in history.known_targets(con):
            self.targets[arn] = kind
            self._by_name.setdefault(_name_key(arn, kind), []).append(arn)
        self._cache: dict[str, PoliciesInForce] = {}

    def resolve(self, arn: str, kind: str) -> str | None:
        """The ARN the history knows `arn` by, or None when it has no history at all.

        CloudTrail often names a role without its path (`role/Deploy` for
        `role/ops/Deploy`); a unique match on account, type and name is taken then.
        """
        if arn in self.targets:
            return arn
        found = self._by_name.get(_name_key(arn, kind), [])
        return found[0] if len(found) == 1 else None

    def managed(self, policy_arn: str, *, group: str | None = None) -> PolicyInForce:
        """A managed policy's document at `at`: history first, then the catalogue."""
        name = policy_name_of(policy_arn)
        found = self.defaults.get(policy_arn)
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

    def policies_in_force(self, principal_arn: str) -> PoliciesInForce:
        if principal_arn not in self._cache:
            self._cache[principal_arn] = self._build(principal_arn)
        return self._cache[principal_arn]

    def _build(self, principal_arn: str) -> PoliciesInForce:
        target = self.resolve(principal_arn, "USER" if ":user/" in principal_arn else "ROLE")
        if target is None:
            return PoliciesInForce(principal_arn, self.at)
        items = self.items.get(target, [])
        identity = self._policies_of(items)
        groups = tuple(sorted(i.item for i in items if i.kind == "group" and i.item))
        account = _account(principal_arn)
        for name in groups:
            guess = f"arn:aws:iam::{account}:group/{name}"
            arn = self.resolve(guess, "GROUP") or guess
            identity += self._policies_of(self.items.get(arn, []), group=name)
        boundary = None
        tags: dict[str, str] = {}
        trust = None
        for item in items:
            if item.kind == "boundary":
                boundary = (
                    self.managed(item.policy_arn)
                    if item.policy_arn
                    else PolicyInForce("?", "managed", origin="unknown")
                )
            elif item.kind == "tags" and item.policy_document:
                tags = _tags(item.policy_document)
            elif item.kind == "trust":
                trust = item.policy_document
        return PoliciesInForce(
            principal_arn=principal_arn,
            at=self.at,
            identity=tuple(identity),
            boundary=boundary,
            groups=groups,
            tags=tags,
            trust_policy=trust,
            recorded=True,
        )

    def _policies_of(
        self, items: list[history.PolicyInterval], group: str | None = None
    ) -> list[PolicyInForce]:
        out: list[PolicyInForce] = []
        for item in items:
            if item.kind == "managed" and item.policy_arn:
                out.append(self.managed(item.policy_arn, group=group))
            elif item.kind == "inline":
                document = item.policy_document
                origin: Origin = "history" if document else "unknown"
                name = item.policy_name or "?"
                out.append(PolicyInForce(name, "inline", None, document, origin, group=group))
        return out


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) >= 6 else ""


def _name_key(arn: str, kind: str) -> tuple[str, str, str]:
    return (kind, _account(arn), arn.rsplit("/", 1)[-1])


def policies_in_force(
    con: duckdb.DuckDBPyConnection, principal_arn: str, at: datetime
) -> PoliciesInForce:
    """The identity policies (named), group policies, boundary, tags and trust policy of a
    role or IAM user at `at`, from the recorded history."""
    return HistoryAt(con, at).policies_in_force(principal_arn)


def _tags(document: str) -> dict[str, str]:
    try:
        value = json.loads(document)
    except json.JSONDecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}
