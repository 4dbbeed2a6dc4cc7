"""machine-iam-admin: a machine's session, or a long chain's, able to administer IAM.

Not SQL: it asks the policy evaluator (`pipeline.permissions`) what the policies in force
at the session's start allowed. "Administer IAM" is `iam:PassRole` together with
`iam:CreateRole` or `iam:AttachRolePolicy` on the account's roles, which `iam:*` and `*`
both grant.
"""

from __future__ import annotations

import bisect
from typing import Any

import duckdb

from pipeline.findings import rules
from pipeline.findings.thresholds import Thresholds
from pipeline.permissions import decide, session_permissions
from pipeline.permissions.in_force import HistoryAt
from pipeline.policy import PolicyError
from pipeline.sessions import Selection, SessionView, session_view, state_sql
from pipeline.timeutil import naive

ADMIN_ACTIONS = ("iam:PassRole", "iam:CreateRole", "iam:AttachRolePolicy")


# What the answer depends on besides the policy history: sessions alike in these, of one
# role, started between the same two policy changes, get the same answer.
_ALIKE = (
    "role_arn",
    "session_policy",
    "session_policy_arns",
    "source_ip",
    "mfa_authenticated",
    "source_identity",
    "session_tags",
)


def machine_iam_admin(
    con: duckdb.DuckDBPyConnection, thresholds: Thresholds
) -> list[dict[str, Any]]:
    """The rule's findings for the candidate sessions in `f_scope`.

    Instances and CI runs start many sessions of one role: one of each group of alike
    sessions is evaluated, and only the sessions of groups able to administer IAM are read.
    """
    cols = ", ".join(_ALIKE)
    rows = con.execute(
        f"SELECT session_id, started_at, {cols} FROM sessions "  # noqa: S608 (constant columns)
        f"WHERE session_id IN ({rules.MACHINE_CANDIDATES}) ORDER BY session_id"
    ).fetchall()
    if not rows:
        return []
    # A role's policies change with changes to the role or to a managed policy's versions.
    changes = con.execute(
        "SELECT event_time, target_arn, target_type FROM policy_changes ORDER BY event_time"
    ).fetchall()
    every = [t for t, _, _ in changes]
    of_role: dict[str, list[Any]] = {}
    for t, target, kind in changes:
        if kind == "MANAGED_POLICY":
            for times in of_role.values():
                times.append(t)
        of_role.setdefault(target, [u for u, _, k in changes if k == "MANAGED_POLICY" and u < t])
        if kind != "MANAGED_POLICY":
            of_role[target].append(t)
    managed = [t for t, _, k in changes if k == "MANAGED_POLICY"]
    groups: dict[tuple[object, ...], list[str]] = {}
    for session_id, started_at, *alike in rows:
        times = of_role.get(alike[0], managed)
        epoch = bisect.bisect_right(times, started_at) if started_at is not None else -1
        key = (epoch, *(tuple(v) if isinstance(v, list) else v for v in alike))
        groups.setdefault(key, []).append(session_id)
    able: list[str] = []
    granted: dict[str, str] = {}
    histories: dict[int, HistoryAt] = {}  # the policies in force, one per change
    views = {v.session_id: v for v in _views(con, [m[0] for m in groups.values()])}
    for members in groups.values():
        view = views.get(members[0])
        if view is None or view.role_arn is None or view.role_arn.count(":") < 5:
            continue  # no role ARN to evaluate (bad data): nothing can be said
        account = view.account_id or view.role_arn.split(":")[4]
        resource = f"arn:aws:iam::{account}:role/*"
        at = bisect.bisect_right(every, naive(view.started_at))
        history = histories.get(at)
        if history is None:
            history = histories[at] = HistoryAt(con, view.started_at)
        try:
            perms = session_permissions(
                con, view, view.started_at, issued_at=view.started_at, history_at=history
            )
            allowed = {a: decide(perms, a, resource).allowed for a in ADMIN_ACTIONS}
        except PolicyError:  # a malformed ARN or document in the record: not evaluable
            continue
        if allowed["iam:PassRole"] and (
            allowed["iam:CreateRole"] or allowed["iam:AttachRolePolicy"]
        ):
            able += members
            for m in members:
                granted[m] = " + ".join(a for a, ok in allowed.items() if ok)
    return [
        f
        for view in _views(con, sorted(able))
        if (f := _finding(con, view, granted[view.session_id], thresholds))
    ]


def _views(con: duckdb.DuckDBPyConnection, ids: list[str]) -> list[SessionView]:
    """Sessions read on `con` itself, not through SessionReader's own cursor: inside the
    writer's transaction only `con` sees the batch."""
    if not ids:
        return []
    head, params = state_sql(Selection(session_ids=ids), spans_files=False)
    cur = con.execute(head + " SELECT * FROM picked ORDER BY session_id", params)  # noqa: S608
    names = [d[0] for d in cur.description or []]
    return [session_view(dict(zip(names, row, strict=True))) for row in cur.fetchall()]


def _finding(
    con: duckdb.DuckDBPyConnection, view: SessionView, granted: str, thresholds: Thresholds
) -> dict[str, Any] | None:
    evidence = [
        r[0]
        for r in con.execute(
            "SELECT event_id FROM role_assumptions WHERE session_id = ? AND via <> 'INFERRED' "
            "ORDER BY event_time, event_id",
            [view.session_id],
        ).fetchall()
    ]
    if not evidence:  # an inferred session: its first call stands for its start
        evidence = [
            r[0]
            for r in con.execute(
                "SELECT event_id FROM f_acts WHERE actor = ? ORDER BY event_time, event_id LIMIT 1",
                [view.session_id],
            ).fetchall()
        ]
    if not evidence:
        return None
    why = (
        f"a chain of {view.depth + 1} hops"
        if view.depth >= 2 and view.origin_type not in ("AWSService", "WebIdentityUser")
        else f"origin {view.origin_label}"
    )
    return {
        "rule": "machine-iam-admin",
        "anchor": view.session_id,
        "seed": view.session_id,
        "severity": "high",
        "first_at": naive(view.started_at),
        "last_at": naive(view.started_at),
        "account_id": view.account_id,
        "session_id": view.session_id,
        "principal_arn": view.session_arn or view.role_arn,
        "summary": f"{view.role_arn} could administer IAM at its start ({granted}); {why}",
        "evidence": evidence[: thresholds.max_evidence],
        "evidence_count": len(evidence),
    }
