"""The questions in time: can this session do A on R at T, who could, and a summary.

Each takes the query API (`Queries`) so that it reads sessions exactly as every other
reader does; `Queries` exposes them as thin methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pipeline.permissions.in_force import HistoryAt
from pipeline.permissions.session import (
    SessionPermissions,
    check_request,
    decide,
    evaluate_principal,
    session_permissions,
    summary,
)
from pipeline.policy import Decision, session_context
from pipeline.queries import SessionView
from pipeline.timeutil import naive, to_utc

if TYPE_CHECKING:
    from pipeline.queries import Queries

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


def permissions_at(queries: Queries, session_id: str, at: datetime) -> SessionPermissions:
    """A session's policies and request context at `at`."""
    view = queries.session(session_id).session
    return session_permissions(queries.con, view, to_utc(at))


def can(queries: Queries, session_id: str, action: str, resource: str, at: datetime) -> Decision:
    """Could this session do `action` on `resource` at `at`? With the deciding statement."""
    return decide(permissions_at(queries, session_id, at), action, resource)


def permissions_summary(queries: Queries, session_id: str, at: datetime) -> str:
    """`AdministratorAccess`, `PowerUserAccess ∩ session policy`, `unknown: no policy history`."""
    return summary(permissions_at(queries, session_id, at))


def who_could(
    queries: Queries,
    action: str,
    resource: str,
    at: datetime,
    *,
    limit: int | None = None,
    show_denied: bool = False,
) -> WhoCould:
    """Every session active at `at` whose permissions allow `action` on `resource` (and,
    with `show_denied`, the others with their reasons), plus the IAM users that could."""
    check_request(action, resource)
    t = to_utc(at)
    active = queries.who_held(at=t)
    issued = _issue_times(queries, [s.session_id for s in active], t)
    snapshot = HistoryAt(queries.con, t)
    allowed: list[tuple[SessionView, Decision]] = []
    denied: list[tuple[SessionView, Decision]] = []
    for s in active:
        issued_at = issued.get(s.session_id, s.started_at)
        perms = session_permissions(queries.con, s, t, issued_at=issued_at, history_at=snapshot)
        decision = decide(perms, action, resource)
        if decision.allowed:
            if limit is None or len(allowed) < limit:
                allowed.append((s, decision))
        elif show_denied:
            denied.append((s, decision))
    principals = []
    users = sorted(arn for arn, kind in snapshot.targets.items() if kind == "USER")
    for user in users:
        decision = _user_decision(snapshot, user, action, resource)
        if decision.allowed:
            principals.append((user, decision))
    return WhoCould(action, resource, t, allowed, denied, principals, considered=len(active))


def _user_decision(snapshot: HistoryAt, user_arn: str, action: str, resource: str) -> Decision:
    """An IAM user's own long-term credentials (no token issue time, MFA unknown)."""
    in_force = snapshot.policies_in_force(user_arn)
    context = session_context(principal_arn=user_arn, at=snapshot.at, role_tags=in_force.tags)
    return evaluate_principal(user_arn, in_force, (), context, action=action, resource=resource)


def _issue_times(queries: Queries, session_ids: list[str], at: datetime) -> dict[str, datetime]:
    if not session_ids:
        return {}
    rows = queries.con.execute(
        "SELECT session_id, max(issued_at) FROM credentials "
        "WHERE session_id IN (SELECT unnest(?::VARCHAR[])) AND issued_at <= ? GROUP BY 1",
        [session_ids, naive(at)],
    ).fetchall()
    return {r[0]: to_utc(r[1]) for r in rows}
