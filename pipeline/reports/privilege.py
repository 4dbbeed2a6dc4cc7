"""What counts as privileged, and which sessions held it, by the policies in force at
each session's start (`pipeline.permissions`).

Sessions of one role (or IAM user) alike in everything the evaluation reads, started
between the same two policy changes, get the same answer: one of each group is
evaluated (as the machine-iam-admin rule does), so a quarter of instance and CI
sessions costs a few thousand decisions, not one per session.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import duckdb

from pipeline.permissions import decide, session_permissions
from pipeline.permissions.in_force import HistoryAt
from pipeline.permissions.session import principal_of
from pipeline.policy import PolicyError
from pipeline.sessions import SessionView
from pipeline.timeutil import naive

# "Administer IAM": create and empower principals. `iam:*` and `*` grant all of these;
# PowerUserAccess (NotAction iam:*) grants none.
IAM_ADMIN_ACTIONS = (
    "iam:CreateUser",
    "iam:CreateRole",
    "iam:AttachRolePolicy",
    "iam:PutRolePolicy",
    "iam:CreateAccessKey",
    "iam:PassRole",
)
# Beyond IAM: what `*:*` adds (checked to say "*:*" rather than "iam:*").
EVERYTHING_PROBES = ("ec2:TerminateInstances", "s3:DeleteBucket", "kms:ScheduleKeyDeletion")

Kind = Literal["admin", "action", "policy"]


@dataclass(frozen=True, slots=True)
class Privilege:
    """The power a report asks about: IAM administration (the default), one action on a
    resource, or one managed policy attached."""

    kind: Kind = "admin"
    action: str | None = None
    resource: str | None = None
    policy_arn: str | None = None

    @property
    def description(self) -> str:
        if self.kind == "action":
            return f"can perform {self.action} on {self.resource}"
        if self.kind == "policy":
            return f"has {self.policy_arn} attached"
        return "can administer IAM (iam:* or *:*)"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": self.action,
            "resource": self.resource,
            "policy_arn": self.policy_arn,
            "description": self.description,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Privilege:
        return cls(
            kind=doc.get("kind", "admin"),
            action=doc.get("action"),
            resource=doc.get("resource"),
            policy_arn=doc.get("policy_arn"),
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """Why a session counts: what it could do, by which policies."""

    held: bool
    basis: str  # "iam:*", "*:*", the action, the policy; or why not / "unknown: ..."
    undecided: bool = False


# What the answer depends on besides the policy history (see the module doc).
_ALIKE = (
    "role_arn",
    "via",
    "principal_arn",
    "session_policy",
    "session_policy_arns",
    "source_ip",
    "mfa_authenticated",
    "source_identity",
    "session_tags",
)


def _key_of(view: SessionView) -> tuple[object, ...]:
    values = []
    for name in _ALIKE:
        v = getattr(view, name)
        if isinstance(v, dict):
            v = tuple(sorted(v.items()))
        elif isinstance(v, list):
            v = tuple(v)
        values.append(v)
    return tuple(values)


def _change_times(con: duckdb.DuckDBPyConnection) -> list[datetime]:
    rows = con.execute("SELECT DISTINCT event_time FROM policy_changes ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def grants(
    con: duckdb.DuckDBPyConnection, sessions: Iterable[SessionView], privilege: Privilege
) -> dict[str, Grant]:
    """Each session's grant, evaluated at its start, by groups of alike sessions."""
    changes = _change_times(con)
    groups: dict[tuple[object, ...], list[SessionView]] = {}
    for view in sessions:
        epoch = bisect.bisect_right(changes, naive(view.started_at))
        groups.setdefault((epoch, *_key_of(view)), []).append(view)
    histories: dict[int, HistoryAt] = {}
    out: dict[str, Grant] = {}
    for key, members in groups.items():
        first = members[0]
        epoch = int(key[0])  # type: ignore[call-overload]
        history = histories.get(epoch)
        if history is None:
            history = histories[epoch] = HistoryAt(con, first.started_at)
        grant = _evaluate(con, first, privilege, history)
        for m in members:
            out[m.session_id] = grant
    return out


def _evaluate(
    con: duckdb.DuckDBPyConnection, view: SessionView, privilege: Privilege, history: HistoryAt
) -> Grant:
    if _is_root(view):  # root's own credentials: no policy limits it in its account
        if privilege.kind == "policy":
            return Grant(False, "root: no policy attached")
        return Grant(
            True, "*:* (root)" if privilege.kind == "admin" else f"{privilege.action} (root)"
        )
    if principal_of(view) is None:
        return Grant(False, "unknown: no role or IAM user to evaluate", undecided=True)
    try:
        perms = session_permissions(
            con, view, view.started_at, issued_at=view.started_at, history_at=history
        )
        if privilege.kind == "policy":
            arns = {p.arn for p in perms.policies.identity if p.arn}
            held = privilege.policy_arn in arns
            return Grant(held, str(privilege.policy_arn) if held else "not attached")
        if privilege.kind == "action":
            assert privilege.action is not None and privilege.resource is not None
            decision = decide(perms, privilege.action, privilege.resource)
            return _from_decisions(privilege.action, [decision])
        resource = "*"
        iam = [decide(perms, a, resource) for a in IAM_ADMIN_ACTIONS]
        grant = _from_decisions("iam:*", iam)
        if grant.held and all(decide(perms, a, resource).allowed for a in EVERYTHING_PROBES):
            return Grant(True, "*:*")
        return grant
    except PolicyError as exc:  # a malformed ARN or document in the record
        return Grant(False, f"unknown: not evaluable ({exc})", undecided=True)


def _undecidable(d: Any) -> bool:
    """A decision resting on what is not known (as `rolecall can` answers 2)."""
    if d.effect == "explicit_deny":
        return False
    reason = str(d.reason)
    return (
        reason.startswith(("unknown", "a policy in force could not be evaluated"))
        or "unknown policy document" in reason
    )


def _is_root(view: SessionView) -> bool:
    arns = (view.principal_arn, view.origin_arn if view.depth == 0 else None)
    return view.role_arn is None and any(a and a.endswith(":root") for a in arns)


def _from_decisions(label: str, decisions: Sequence[Any]) -> Grant:
    if all(d.allowed for d in decisions):
        return Grant(True, label)
    unknown = [d.reason for d in decisions if _undecidable(d)]
    if unknown:
        return Grant(False, unknown[0], undecided=True)
    return Grant(False, next(d.reason for d in decisions if not d.allowed))
