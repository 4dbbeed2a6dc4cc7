"""Who could do A on R at T: every session active then, evaluated against one snapshot.

It reads sessions from the session read model (`SessionReader`), as every other reader
does; `Queries.who_could` (and `can`, `permissions_summary` over `session.py`) expose
the questions as thin methods.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.permissions.decision_classes import (
    ActiveSession,
    DecisionClasses,
    active_rows,
    issue_times,
    issued_at,
)
from pipeline.permissions.in_force import HistoryAt
from pipeline.permissions.session import check_request, evaluate_principal
from pipeline.permissions.shared import SharedDecisions
from pipeline.policy import Decision, session_context
from pipeline.sessions import Selection, SessionReader, SessionView
from pipeline.timeutil import to_utc

SCOPE_NOTE = (
    "only principals with recorded policies are considered: sessions active at the moment "
    "and IAM users whose policies are in the history (import a snapshot with "
    "`rolecall import-iam`); resource policies, SCPs and cross-account access are not evaluated"
)


@dataclass(frozen=True)
class WhoCould:
    """The answer to "who could do `action` on `resource` at `at`"."""

    action: str
    resource: str
    at: datetime
    sessions: list[tuple[SessionView, Decision]]  # allowed, in start order
    denied: list[tuple[SessionView, Decision]] = field(default_factory=list)
    principals: list[tuple[str, Decision]] = field(default_factory=list)  # IAM users allowed
    considered: int = 0
    note: str = SCOPE_NOTE


def who_could(
    sessions: SessionReader,
    action: str,
    resource: str,
    at: datetime,
    *,
    limit: int | None = None,
    show_denied: bool = False,
) -> WhoCould:
    """Every session active at `at` whose permissions allow `action` on `resource` (and,
    with `show_denied`, the others with their reasons), plus the IAM users that could.

    Sessions are read as narrow rows and sorted into classes that one decision answers
    alike (`decision_classes`); one session of each class is decided, and views are
    built only for the sessions the answer lists."""
    check_request(action, resource)
    t = to_utc(at)
    con = sessions.con
    snapshot = HistoryAt(con, t)
    rows = active_rows(sessions, t)
    active = DecisionClasses(snapshot).sort(rows, issue_times(sessions, rows, t))
    decided = _decide_classes(sessions, snapshot, active, action, resource)
    allowed_ids: list[str] = []
    denied_ids: list[str] = []
    decision_of: dict[str, Decision] = {}
    for session_id, _, key in active:
        decision = decided[key]
        if decision.allowed:
            if limit is not None and len(allowed_ids) >= limit:
                continue
            allowed_ids.append(session_id)
        elif show_denied:
            denied_ids.append(session_id)
        else:
            continue
        decision_of[session_id] = decision
    views = _views(sessions, t, [*allowed_ids, *denied_ids])
    principals = []
    users = sorted(arn for arn, kind in snapshot.targets.items() if kind == "USER")
    for user in users:
        decision = _user_decision(snapshot, user, action, resource)
        if decision.allowed:
            principals.append((user, decision))
    return WhoCould(
        action,
        resource,
        t,
        [(views[i], decision_of[i]) for i in allowed_ids],
        [(views[i], decision_of[i]) for i in denied_ids],
        principals,
        considered=len(active),
    )


def _decide_classes(
    sessions: SessionReader,
    snapshot: HistoryAt,
    active: list[ActiveSession],
    action: str,
    resource: str,
) -> dict[Hashable, Decision]:
    """One decision per class, made for the class's first session."""
    first: dict[Hashable, ActiveSession] = {}
    for s in active:
        first.setdefault(s[2], s)
    views = _views(sessions, snapshot.at, [s[0] for s in first.values()])
    shared = SharedDecisions(sessions.con, snapshot, action, resource)
    return {key: shared.decide(views[sid], issued_at(us)) for key, (sid, us, _) in first.items()}


def _views(sessions: SessionReader, at: datetime, ids: list[str]) -> dict[str, SessionView]:
    if not ids:
        return {}
    found = sessions.all(Selection(at=at, session_ids=ids))
    return {v.session_id: v for v in found}


def _user_decision(snapshot: HistoryAt, user_arn: str, action: str, resource: str) -> Decision:
    """An IAM user's own long-term credentials (no token issue time, MFA unknown)."""
    in_force = snapshot.policies_in_force(user_arn)
    context = session_context(principal_arn=user_arn, at=snapshot.at, role_tags=in_force.tags)
    return evaluate_principal(user_arn, in_force, (), context, action=action, resource=resource)
