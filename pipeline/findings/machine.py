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
from pipeline.sessions import Selection, session_view, state_sql
from pipeline.timeutil import naive

ADMIN_ACTIONS = ("iam:PassRole", "iam:CreateRole", "iam:AttachRolePolicy")


def machine_iam_admin(
    con: duckdb.DuckDBPyConnection, thresholds: Thresholds
) -> list[dict[str, Any]]:
    """The rule's findings for the candidate sessions in `f_scope`."""
    ids = [r[0] for r in con.execute(rules.MACHINE_CANDIDATES).fetchall()]
    if not ids:
        return []
    # Read on `con` itself, not through SessionReader's own cursor: inside the writer's
    # transaction only `con` sees the batch.
    head, params = state_sql(Selection(session_ids=ids), spans_files=False)
    cur = con.execute(head + f" SELECT * FROM picked ORDER BY session_id", params)
    names = [d[0] for d in cur.description or []]
    views = [session_view(dict(zip(names, row, strict=True))) for row in cur.fetchall()]
    # Sessions of one role that started between the same two policy changes, with the
    # same request context, get the same answer: evaluated once (instances and CI runs
    # start many sessions of one role).
    changes = [r[0] for r in con.execute("SELECT event_time FROM policy_changes ORDER BY 1").fetchall()]
    answers: dict[tuple[object, ...], dict[str, bool]] = {}
    out: list[dict[str, Any]] = []
    for view in views:
        if view.role_arn is None:
            continue
        account = view.account_id or view.role_arn.split(":")[4]
        resource = f"arn:aws:iam::{account}:role/*"
        key = (
            view.role_arn,
            bisect.bisect_right(changes, naive(view.started_at)),
            view.session_policy,
            tuple(view.session_policy_arns),
            view.source_ip,
            view.mfa_authenticated,
            view.source_identity,
            tuple(sorted(view.session_tags.items())),
        )
        allowed = answers.get(key)
        if allowed is None:
            perms = session_permissions(con, view, view.started_at)
            allowed = {a: decide(perms, a, resource).allowed for a in ADMIN_ACTIONS}
            answers[key] = allowed
        if not (
            allowed["iam:PassRole"]
            and (allowed["iam:CreateRole"] or allowed["iam:AttachRolePolicy"])
        ):
            continue
        evidence = [
            r[0]
            for r in con.execute(
                "SELECT event_id FROM role_assumptions WHERE session_id = ? "
                "ORDER BY event_time, event_id",
                [view.session_id],
            ).fetchall()
        ]
        if not evidence:  # an inferred session: its first call stands for its start
            evidence = [
                r[0]
                for r in con.execute(
                    "SELECT event_id FROM f_acts WHERE actor = ? ORDER BY event_time, event_id "
                    "LIMIT 1",
                    [view.session_id],
                ).fetchall()
            ]
        if not evidence:
            continue
        why = (
            f"a chain of {view.depth + 1} hops"
            if view.depth >= 2 and view.origin_type not in ("AWSService", "WebIdentityUser")
            else f"origin {view.origin_label}"
        )
        granted = " + ".join(a for a, ok in allowed.items() if ok)
        out.append(
            {
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
        )
    return out
