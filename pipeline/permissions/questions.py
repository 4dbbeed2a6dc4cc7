"""Who could do A on R at T: every session active then, evaluated against one snapshot.

It reads sessions from the session read model (`SessionReader`), as every other reader
does; `Queries.who_could` (and `can`, `permissions_summary` over `session.py`) expose
the questions as thin methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from pipeline.permissions.in_force import HistoryAt
from pipeline.permissions.session import check_request, evaluate_principal
from pipeline.permissions.shared import SharedDecisions
from pipeline.policy import Decision, session_context
from pipeline.sessions import Selection, SessionReader, SessionView
from pipeline.timeutil import naive, to_utc

# The longest an STS credential lasts (GetSessionToken, GetFederationToken: 36 h).
LONGEST_CREDENTIAL = timedelta(hours=36)

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
    with `show_denied`, the others with their reasons), plus the IAM users that could."""
    check_request(action, resource)
    t = to_utc(at)
    con = sessions.con
    active = sessions.all(Selection(at=t))
    issued = _issue_times(con, [s.session_id for s in active], t)
    snapshot = HistoryAt(con, t)
    allowed: list[tuple[SessionView, Decision]] = []
    denied: list[tuple[SessionView, Decision]] = []
    shared = SharedDecisions(con, snapshot, action, resource)
    for s in active:
        decision = shared.decide(s, issued.get(s.session_id, s.started_at))
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


def _issue_times(
    con: duckdb.DuckDBPyConnection, session_ids: list[str], at: datetime
) -> dict[str, datetime]:
    """The latest credential each session was issued by `at`.

    Asked first within the longest credential lifetime before `at` (36 h, GetSessionToken's
    and GetFederationToken's most), which lets DuckDB skip the older row groups; only the
    sessions with nothing issued in that span are asked again over the whole history."""
    if not session_ids:
        return {}
    sql = (
        "SELECT session_id, max(issued_at) FROM credentials "
        "WHERE session_id IN (SELECT unnest(?::VARCHAR[])) AND issued_at <= ? {since} GROUP BY 1"
    )
    recent = con.execute(
        sql.format(since="AND issued_at > ?"),
        [session_ids, naive(at), naive(at - LONGEST_CREDENTIAL)],
    ).fetchall()
    found = {r[0]: to_utc(r[1]) for r in recent}
    older = [i for i in session_ids if i not in found]
    if older:
        rows = con.execute(sql.format(since=""), [older, naive(at)]).fetchall()
        found.update({r[0]: to_utc(r[1]) for r in rows})
    return found
