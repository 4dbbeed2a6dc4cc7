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
    _group(con)
    groups = con.execute("SELECT rep FROM f_machine_groups ORDER BY rep").fetchall()
    if not groups:
        con.execute("DROP TABLE f_machine_groups")
        return []
    every = [
        t
        for (t,) in con.execute(
            "SELECT event_time FROM policy_changes ORDER BY event_time"
        ).fetchall()
    ]
    granted: dict[str, str] = {}
    histories: dict[int, HistoryAt] = {}  # the policies in force, one per change
    able_reps: list[str] = []
    for view in _views(con, [rep for (rep,) in groups]):
        if view.role_arn is None or view.role_arn.count(":") < 5:
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
            able_reps.append(view.session_id)
            granted[view.session_id] = " + ".join(a for a, ok in allowed.items() if ok)
    able: list[str] = []
    for rep, member in _members(con, able_reps):
        able.append(member)
        granted[member] = granted[rep]
    con.execute("DROP TABLE f_machine_groups")
    return [
        f
        for view in _views(con, sorted(able))
        if (f := _finding(con, view, granted[view.session_id], thresholds))
    ]


def _epochs(roles: str = "") -> str:
    """The candidates (`rules.MACHINE_CANDIDATES`; of `roles`, a query of role ARNs, when
    given), each with its policy epoch: how many changes to its role's policies came
    before its start, its own and every managed policy's."""
    cols = ", ".join(f"s.{c}" for c in _ALIKE)
    of_roles = f"AND s.role_arn IN ({roles})" if roles else ""
    return f"""
WITH changes AS (  -- role NULL: a managed policy's, which every role's epochs count
    SELECT CASE WHEN target_type = 'MANAGED_POLICY' THEN NULL ELSE target_arn END AS role_arn,
           event_time, count(*) AS n
    FROM policy_changes GROUP BY ALL
), changed AS (SELECT DISTINCT role_arn FROM changes WHERE role_arn IS NOT NULL
), counted AS (  -- per role with changes of its own, and (NULL) for every other role
    SELECT r.role_arn, c.event_time, c.n FROM changed r
    JOIN changes c ON c.role_arn = r.role_arn OR c.role_arn IS NULL
    UNION ALL SELECT NULL, event_time, n FROM changes WHERE role_arn IS NULL
), epochs AS (  -- [lo, hi): the changes up to lo, until the next one
    SELECT role_arn, event_time AS lo,
           lead(event_time) OVER (PARTITION BY role_arn ORDER BY event_time) AS hi,
           sum(n) OVER (PARTITION BY role_arn ORDER BY event_time) AS epoch
    FROM (SELECT role_arn, event_time, sum(n) AS n FROM counted GROUP BY ALL)
), candidates AS (
    SELECT s.session_id, s.started_at, {cols},
           (SELECT r.role_arn FROM changed r WHERE r.role_arn = s.role_arn) AS changed_role
    FROM sessions s
    WHERE {rules.MACHINE_CANDIDATES} {of_roles}
)
-- joins on the few epochs, not ASOF joins: those hold and sort all the candidates
SELECT s.* EXCLUDE (changed_role),
       CASE WHEN s.started_at IS NULL THEN -1 ELSE coalesce(e.epoch, 0) END AS epoch
FROM candidates s
LEFT JOIN epochs e ON e.role_arn IS NOT DISTINCT FROM s.changed_role
 AND s.started_at >= e.lo AND (e.hi IS NULL OR s.started_at < e.hi)
"""  # noqa: S608 (constant columns)


_KEYS = ("epoch", *_ALIKE)


def _group(con: duckdb.DuckDBPyConnection) -> None:
    """`f_machine_groups`: one row per group of alike candidates, its least session id as
    its representative. Grouped in SQL, streaming: a policy change concerns every later
    machine session (1.5M at 10M events), too many to bring into Python, or to hold in
    DuckDB's 1 GB beside a batch's transaction."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE f_machine_groups AS "  # noqa: S608 (constant columns)
        f"SELECT min(session_id) AS rep, {', '.join(_KEYS)} FROM ({_epochs()}) GROUP BY ALL"
    )


def _members(con: duckdb.DuckDBPyConnection, reps: list[str]) -> list[tuple[str, str]]:
    """(representative, member) for every member of the groups of `reps`: the candidates
    of their roles read again, not kept."""
    if not reps:
        return []
    same = " AND ".join(f"m.{c} IS NOT DISTINCT FROM g.{c}" for c in _KEYS)
    roles = "SELECT role_arn FROM f_machine_groups WHERE rep IN (SELECT unnest($reps::VARCHAR[]))"
    return [
        (rep, member)
        for rep, member in con.execute(
            f"SELECT g.rep, m.session_id FROM ({_epochs(roles)}) m "  # noqa: S608
            f"JOIN f_machine_groups g ON {same} "
            f"WHERE g.rep IN (SELECT unnest($reps::VARCHAR[])) ORDER BY m.session_id",
            {"reps": reps},
        ).fetchall()
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
