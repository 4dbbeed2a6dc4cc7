"""`who-could`, `can`, `permissions`: permissions in time, thin layers over the query API."""

from __future__ import annotations

import sys
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table

from pipeline.cli.common import TIME, db_option, emit_json, json_option, stdout
from pipeline.cli.investigate import end_text, start_text
from pipeline.permissions import PoliciesInForce, PolicyInForce, WhoCould, decide
from pipeline.permissions.session import summary as session_summary
from pipeline.policy import Decision
from pipeline.queries import Queries, SessionView
from pipeline.timeutil import iso


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "effect": decision.effect,
        "reason": decision.reason,
        "statements": [
            {"policy": m.policy, "statement": m.label, "effect": m.effect, "kind": m.kind}
            for m in decision.matched
        ],
    }


def _session_json(s: SessionView, d: Decision) -> dict[str, Any]:
    return {
        "session_id": s.session_id,
        "role_arn": s.role_arn,
        "principal_arn": s.principal_arn,
        "origin_arn": s.origin_arn,
        "source_identity": s.source_identity,
        "via": s.via,
        "started_at": iso(s.started_at),
        "ends_at": iso(s.ends_at),
        **decision_json(d),
    }


def who_could_json(result: WhoCould) -> dict[str, Any]:
    return {
        "action": result.action,
        "resource": result.resource,
        "at": iso(result.at),
        "sessions_considered": result.considered,
        "allowed": [_session_json(s, d) for s, d in result.sessions],
        "denied": [_session_json(s, d) for s, d in result.denied],
        "iam_users": [{"principal_arn": p, **decision_json(d)} for p, d in result.principals],
        "note": result.note,
    }


@click.command("who-could")
@click.option("--action", required=True, help="The action, e.g. iam:CreateUser.")
@click.option("--resource", required=True, help="The resource ARN (or '*').")
@click.option("--at", "at", type=TIME, required=True, help="The moment (ISO 8601, UTC).")
@click.option("--show-denied", is_flag=True, help="Also list the active sessions denied, and why.")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many sessions.")
@db_option
@json_option
def who_could_command(
    action: str,
    resource: str,
    at: datetime,
    show_denied: bool,
    limit: int | None,
    db_path: str,
    as_json: bool,
) -> None:
    """Who could do an action on a resource at a moment, by the policies then in force.

    Every session active at the moment is evaluated with its role's policies at that
    moment, its own session policy, the boundary and revocations; IAM users with
    recorded policies are evaluated too. Only principals with recorded policies count.

    \b
    Examples:
      rolecall who-could --action iam:CreateUser --resource '*' --at 2026-01-07T12:00:00Z
      rolecall who-could --action s3:GetObject --resource arn:aws:s3:::acme-prod-data/x \\
        --at 2026-01-06T14:00:00Z --show-denied --json
    """
    with _queries(db_path) as q:
        result = q.who_could(action, resource, at, limit=limit, show_denied=show_denied)
    if as_json:
        emit_json(who_could_json(result))
        return
    title = (
        f"{len(result.sessions)} of {result.considered} active sessions could "
        f"{action} on {resource} at {iso(at)}"
    )
    stdout.print(_decisions_table(result.sessions, title))
    if show_denied:
        stdout.print(_decisions_table(result.denied, f"{len(result.denied)} denied"))
    for principal, decision in result.principals:
        stdout.print(f"IAM user {principal}: {decision.reason}")
    stdout.print(f"[dim]{result.note}[/]")


def _decisions_table(rows: list[tuple[SessionView, Decision]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("session", "role", "origin", "started", "ends", "decision"):
        table.add_column(col, overflow="fold")
    for s, d in rows:
        table.add_row(
            s.session_id,
            s.role_arn or s.principal_label,
            s.origin_label,
            start_text(s),
            end_text(s),
            d.reason,
        )
    return table


@click.command("can")
@click.argument("session_id")
@click.option("--action", required=True, help="The action, e.g. s3:GetObject.")
@click.option("--resource", required=True, help="The resource ARN (or '*').")
@click.option("--at", "at", type=TIME, default=None, help="The moment (default: now).")
@db_option
@json_option
def can_command(
    session_id: str, action: str, resource: str, at: datetime | None, db_path: str, as_json: bool
) -> None:
    """Could this session do an action on a resource at a moment? Exit 0 if allowed, 1 if not.

    \b
    Examples:
      rolecall can ASIAEXAMPLEKEY000001 --action iam:CreateUser --resource '*' \\
        --at 2026-01-07T12:00:00Z
    """
    when = at or datetime.now(UTC)
    with _queries(db_path) as q:
        decision = q.can(session_id, action, resource, when)
    if as_json:
        emit_json({"session_id": session_id, "at": iso(when), **decision_json(decision)})
    else:
        stdout.print(f"{decision.effect}: {decision.reason}")
    sys.exit(0 if decision.allowed else 1)


@click.command("permissions")
@click.argument("session_id")
@click.option(
    "--at", "at", type=TIME, default=None, help="The moment (default: the session's start)."
)
@click.option("--action", default=None, help="Also check this action.")
@click.option("--resource", default="*", show_default=True, help="The resource for --action.")
@db_option
@json_option
def permissions_command(
    session_id: str,
    at: datetime | None,
    action: str | None,
    resource: str,
    db_path: str,
    as_json: bool,
) -> None:
    """The policies in force for a session at a moment, and optionally a check of an action.

    \b
    Examples:
      rolecall permissions ASIAEXAMPLEKEY000001 --at 2026-01-07T12:00:00Z
      rolecall permissions ASIAEXAMPLEKEY000001 --action iam:CreateUser --json
    """
    with _queries(db_path) as q:
        view = q.session(session_id).session
        when = at or view.started_at
        perms = q.permissions_at(session_id, when)
        summary = session_summary(perms)
        decision = decide(perms, action, resource) if action else None
    out: dict[str, Any] = {
        "session_id": session_id,
        "at": iso(when),
        "principal_arn": perms.principal_arn,
        "active": perms.active,
        "summary": summary,
        "token_issue_time": iso(perms.issued_at),
        **_policies_json(perms.policies),
        "session_policies": [_policy_json(p) for p in perms.session_policies],
        "context": dict(perms.context.items()) if perms.context else None,
    }
    if decision is not None:
        out["check"] = {"action": action, "resource": resource, **decision_json(decision)}
    if as_json:
        emit_json(out)
        return
    stdout.print(f"[bold]{session_id}[/] at {iso(when)}: {summary}")
    for p in (*perms.policies.identity, *perms.session_policies):
        stdout.print(f"  {p.label}: {_origin(p)}")
    if perms.policies.boundary is not None:
        stdout.print(
            f"  boundary {perms.policies.boundary.label}: {_origin(perms.policies.boundary)}"
        )
    if decision is not None:
        stdout.print(f"{action} on {resource}: {decision.effect}: {decision.reason}")


def _origin(p: PolicyInForce) -> str:
    if not p.known:
        return "unknown policy document"
    where = {"history": "from the history", "catalogue": "built-in AWS managed policy"}
    return where.get(p.origin, p.origin) + (" (approximation)" if p.approximate else "")


def _policy_json(p: PolicyInForce) -> dict[str, Any]:
    return {
        "name": p.label,
        "kind": p.kind,
        "arn": p.arn,
        "origin": p.origin,
        "version_id": p.version_id,
        "approximate": p.approximate,
        "document": p.document,
    }


def _policies_json(p: PoliciesInForce) -> dict[str, Any]:
    return {
        "recorded": p.recorded,
        "identity_policies": [_policy_json(x) for x in p.identity],
        "boundary": _policy_json(p.boundary) if p.boundary else None,
        "groups": list(p.groups),
        "principal_tags": dict(p.tags),
    }


def _queries(db_path: str) -> closing[Queries]:
    return closing(Queries.open(db_path))
