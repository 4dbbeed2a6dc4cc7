"""What counts as privileged, and which sessions held it, by the policies in force at
each session's start (`pipeline.permissions`).

Sessions of one role (or IAM user) alike in everything the evaluation reads, started
between the same two policy changes, get the same answer: one of each group is
evaluated (as the machine-iam-admin rule does), so a quarter of instance and CI
sessions costs a few thousand decisions, not one per session.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import duckdb

from pipeline.permissions import decide, session_permissions
from pipeline.permissions.in_force import HistoryAt
from pipeline.permissions.session import principal_of
from pipeline.policy import PolicyError
from pipeline.sessions import SessionView
from pipeline.timeutil import to_utc

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


# What the answer may depend on besides the policy history (columns of `sessions`):
# the request context the conditions read, and the session policies.
_CONTEXT = ("source_ip", "mfa_authenticated", "source_identity", "session_tags")
_ALIKE = ("role_arn", "via", "caller_arn", "session_arn", "session_policy", "session_policy_arns")
ROW_COLUMNS = ", ".join(("session_id", "started_at", *_ALIKE, *_CONTEXT))


def _hashable(v: object) -> object:
    return tuple(v) if isinstance(v, list) else v


def _change_times(con: duckdb.DuckDBPyConnection) -> list[datetime]:
    rows = con.execute("SELECT DISTINCT event_time FROM policy_changes ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def _principal_of_row(row: tuple[Any, ...]) -> str | None:
    role, via, caller, session_arn = row[2], row[3], row[4], row[5]
    if role:
        return str(role)
    if via in ("CONSOLE_SIGN_IN", "GET_SESSION_TOKEN", "GET_FEDERATION_TOKEN"):
        for arn in (caller, session_arn):
            if arn and ":user/" in arn:
                return str(arn)
    return None


def _conditional(history: HistoryAt, principal: str | None) -> bool:
    """Whether any policy of the principal in force could read the request context (a
    Condition, or a document rolecall does not know): then alike sessions must also be
    alike in it."""
    if principal is None:
        return True
    found = history.policies_in_force(principal)
    every = (*found.identity, *((found.boundary,) if found.boundary else ()))
    return any(p.document is None or "Condition" in p.document for p in every)


def grants(
    con: duckdb.DuckDBPyConnection,
    rows: Iterable[tuple[Any, ...]],
    privilege: Privilege,
    views: Callable[[list[str]], dict[str, SessionView]],
) -> dict[str, Grant]:
    """Each session's grant (rows of `ROW_COLUMNS`), evaluated at its start: one session of
    each group of alike sessions, read whole through `views` (session id -> view)."""
    changes = _change_times(con)
    histories: dict[int, HistoryAt] = {}
    conditional: dict[tuple[int, str | None], bool] = {}
    groups: dict[tuple[object, ...], list[tuple[str, datetime]]] = {}
    for row in rows:
        session_id, started_at = row[0], row[1]
        epoch = bisect.bisect_right(changes, started_at)  # both naive UTC, as stored
        principal = _principal_of_row(row)
        if (epoch, principal) not in conditional:
            history = histories.get(epoch)
            if history is None:
                history = histories[epoch] = HistoryAt(con, to_utc(started_at))
            conditional[(epoch, principal)] = _conditional(history, principal)
        # the principal's policies and the session policies decide; with conditions, the
        # request context too (the session's name, caller, address, MFA, tags)
        key: tuple[object, ...] = (epoch, principal, row[6], _hashable(row[7]))
        if principal is None or conditional[(epoch, principal)]:
            key += tuple(_hashable(v) for v in row[2:])
        groups.setdefault(key, []).append((session_id, started_at))
    firsts = views([members[0][0] for members in groups.values()])
    out: dict[str, Grant] = {}
    for key, members in groups.items():
        first = firsts.get(members[0][0])
        if first is None:
            grant = Grant(False, "unknown: the session was not found again", undecided=True)
        else:
            epoch = int(key[0])  # type: ignore[call-overload]
            grant = _evaluate(con, first, privilege, histories[epoch])
        for session_id, _ in members:
            out[session_id] = grant
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
        iam = []
        for action in IAM_ADMIN_ACTIONS:  # the first refusal decides: stop there
            iam.append(decide(perms, action, resource))
            if not iam[-1].allowed:
                break
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
