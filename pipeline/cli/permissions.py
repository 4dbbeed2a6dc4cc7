"""`who-could`, `can`, `permissions`: permissions in time, thin layers over the query API.

The query API and the evaluator are imported when a command runs, not when this module
loads, so that each command's `--help` is quick.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import click

from pipeline.cli.common import (
    TIME,
    csv_option,
    db_option,
    emit_json,
    fail,
    json_option,
    one_format,
    out,
)
from pipeline.cli.investigate import end_text, start_text
from pipeline.cli.listing import Column, Listing, emit_csv, show
from pipeline.errors import RolecallError

if TYPE_CHECKING:
    from pipeline.permissions import PoliciesInForce, PolicyInForce, WhoCould
    from pipeline.policy import Decision
    from pipeline.queries import Queries, SessionView

Answer = Literal["allowed", "denied", "undecidable"]
# `can`'s exit status for each answer; 3 is a usage error (no answer was given).
EXIT_CODES: dict[Answer, int] = {"allowed": 0, "denied": 1, "undecidable": 2}
USAGE_ERROR = 3


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "effect": decision.effect,
        "reason": decision.reason,
        "statements": [
            {"policy": m.policy, "statement": m.label, "effect": m.effect, "kind": m.kind}
            for m in decision.matched
        ],
    }


def answer_of(decision: Decision) -> Answer:
    """Allowed, denied, or undecidable: a decision that rests on what is not known (no
    policy history, an unknown policy document, a policy that could not be evaluated)
    answers neither way. An explicit deny stands whatever else is unknown."""
    reason = decision.reason
    if decision.effect == "explicit_deny":
        return "denied"
    if (
        reason.startswith(("unknown", "a policy in force could not be evaluated"))
        or "unknown policy document" in reason
    ):
        return "undecidable"
    return "allowed" if decision.allowed else "denied"


def _session_json(s: SessionView, d: Decision) -> dict[str, Any]:
    from pipeline.timeutil import iso

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
    from pipeline.timeutil import iso

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


WHO_COULD_LISTS = ("sessions", "iam-users")


@click.command("who-could")
@click.option("--action", required=True, help="The action, e.g. iam:CreateUser.")
@click.option("--resource", required=True, help="The resource ARN (or '*').")
@click.option("--at", "at", type=TIME, required=True, help="The moment (ISO 8601, UTC).")
@click.option("--show-denied", is_flag=True, help="Also list the active sessions denied, and why.")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many sessions.")
@db_option
@json_option
@csv_option
@click.option(
    "--list",
    "which",
    type=click.Choice(WHO_COULD_LISTS),
    default="sessions",
    show_default=True,
    help="The list --csv prints: the sessions (with those denied under --show-denied) or "
    "the IAM users allowed.",
)
def who_could_command(
    action: str,
    resource: str,
    at: datetime,
    show_denied: bool,
    limit: int | None,
    db_path: str,
    as_json: bool,
    as_csv: bool,
    which: str,
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
      rolecall who-could --action iam:CreateUser --resource '*' \\
        --at 2026-01-07T12:00:00Z --show-denied --csv
    """
    from pipeline.timeutil import iso

    one_format(as_json, as_csv)
    with _queries(db_path) as q:
        result = q.who_could(action, resource, at, limit=limit, show_denied=show_denied)
    if as_json:
        emit_json(who_could_json(result))
        return
    title = (
        f"{len(result.sessions)} of {result.considered} active sessions could "
        f"{action} on {resource} at {iso(at)}"
    )
    if as_csv:
        if which == "iam-users":
            users = Listing("IAM users", (Column("iam user", identifier=True), *_DECISION))
            for principal, decision in result.principals:
                users.add(principal, answer_of(decision), decision.reason)
            emit_csv(users)
        else:
            emit_csv(_decisions_listing([*result.sessions, *result.denied], title))
        return
    console = out()
    show(_decisions_listing(result.sessions, title), console)
    if show_denied:
        show(_decisions_listing(result.denied, f"{len(result.denied)} denied"), console)
    for principal, decision in result.principals:
        console.print(f"IAM user {principal}: {decision.reason}", markup=False)
    console.print(f"[dim]{result.note}[/]")


_DECISION = (Column("answer"), Column("decision"))


def _decisions_listing(rows: list[tuple[SessionView, Decision]], title: str) -> Listing:
    listing = Listing(
        title,
        (
            Column("session", identifier=True),
            Column("role", identifier=True),
            Column("origin", identifier=True),
            Column("started"),
            Column("ends"),
            *_DECISION,
        ),
    )
    for s, d in rows:
        listing.add(
            s.session_id,
            s.role_arn or s.principal_label,
            s.origin_label,
            start_text(s),
            end_text(s),
            answer_of(d),
            d.reason,
        )
    return listing


class _CanUsageError(click.UsageError):
    exit_code = USAGE_ERROR


class CanCommand(click.Command):
    """`can`: a usage error exits 3, so that 2 means only "undecidable"."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _CanUsageError(exc.message, exc.ctx) from exc


@contextmanager
def _usage_errors_exit_3() -> Iterator[None]:
    """Any error before an answer (an unknown session, no database) exits 3, one line."""
    from pipeline.cli.failures import describe, storage_error_types

    try:
        yield
    except RolecallError as exc:
        fail(str(exc), USAGE_ERROR)
    except storage_error_types() as exc:
        fail(describe(exc), USAGE_ERROR)


@click.command("can", cls=CanCommand)
@click.argument("session_id")
@click.option("--action", required=True, help="The action, e.g. s3:GetObject.")
@click.option("--resource", required=True, help="The resource ARN (or '*').")
@click.option(
    "--at",
    "at",
    type=TIME,
    default=None,
    help="The moment (ISO 8601, UTC). Default: the session's start, when it was surely "
    "active (the JSON's at_basis says which was used).",
)
@db_option
@json_option
def can_command(
    session_id: str, action: str, resource: str, at: datetime | None, db_path: str, as_json: bool
) -> None:
    """Could this session do an action on a resource at a moment? Exit 0 allowed, 1 denied,
    2 undecidable.

    Exit status: 0 allowed; 1 denied (by a policy, or the session was not active at the
    moment); 2 undecidable (what decides is not known: no policy history for the role,
    an unknown policy document); 3 a usage error (a bad option or time, an unknown
    session, no database). Without --at the moment is the session's start, not now: a
    historical session is not active now, so "now" would always deny.

    \b
    Examples:
      rolecall can ASIAEXAMPLEKEY000001 --action iam:CreateUser --resource '*' \\
        --at 2026-01-07T12:00:00Z
      rolecall can ASIAEXAMPLEKEY000001 --action s3:GetObject --resource '*' --json
    """
    from pipeline.timeutil import iso

    with _usage_errors_exit_3(), _queries(db_path) as q:
        if at is None:
            view = q.session(session_id).session
            when = view.started_at
            basis = "the session's start (no --at given)"
            if view.started_at_estimated:
                basis += f"; estimated: {view.started_at_basis}"
        else:
            when, basis = at, "given with --at"
        decision = q.can(session_id, action, resource, when)
    answer = answer_of(decision)
    if as_json:
        emit_json(
            {
                "session_id": session_id,
                "at": iso(when),
                **decision_json(decision),
                "at_basis": basis,
                "answer": answer,
            }
        )
    else:
        console = out()
        console.print(f"{decision.effect}: {decision.reason}", markup=False)
        console.print(f"{answer}, at {iso(when)} ({basis})", markup=False)
    sys.exit(EXIT_CODES[answer])


@click.command("permissions")
@click.argument("session_id")
@click.option(
    "--at", "at", type=TIME, default=None, help="The moment (default: the session's start)."
)
@click.option("--action", default=None, help="Also check this action.")
@click.option("--resource", default="*", show_default=True, help="The resource for --action.")
@db_option
@json_option
@csv_option
def permissions_command(
    session_id: str,
    at: datetime | None,
    action: str | None,
    resource: str,
    db_path: str,
    as_json: bool,
    as_csv: bool,
) -> None:
    """The policies in force for a session at a moment, and optionally a check of an action.

    `--csv` lists the policies in force (identity, session, boundary), one a row.

    \b
    Examples:
      rolecall permissions ASIAEXAMPLEKEY000001 --at 2026-01-07T12:00:00Z
      rolecall permissions ASIAEXAMPLEKEY000001 --action iam:CreateUser --json
      rolecall permissions ASIAEXAMPLEKEY000001 --csv
    """
    from pipeline.permissions import decide
    from pipeline.permissions.session import summary as session_summary
    from pipeline.timeutil import iso

    one_format(as_json, as_csv)
    with _queries(db_path) as q:
        view = q.session(session_id).session
        when = at or view.started_at
        perms = q.permissions_at(session_id, when)
        summary = session_summary(perms)
        decision = decide(perms, action, resource) if action else None
    out_json: dict[str, Any] = {
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
        out_json["check"] = {"action": action, "resource": resource, **decision_json(decision)}
    if as_json:
        emit_json(out_json)
        return
    if as_csv:
        emit_csv(_policies_listing(perms.policies, perms.session_policies, f"{summary}"))
        return
    console = out()
    console.print(f"[bold]{session_id}[/] at {iso(when)}: {summary}")
    for p in (*perms.policies.identity, *perms.session_policies):
        console.print(f"  {p.label}: {_origin(p)}", markup=False)
    if perms.policies.boundary is not None:
        console.print(
            f"  boundary {perms.policies.boundary.label}: {_origin(perms.policies.boundary)}",
            markup=False,
        )
    if decision is not None:
        console.print(f"{action} on {resource}: {decision.effect}: {decision.reason}", markup=False)


def _policies_listing(
    p: PoliciesInForce, session_policies: tuple[PolicyInForce, ...], title: str
) -> Listing:
    listing = Listing(
        title,
        (
            Column("applies as"),
            Column("policy", identifier=True),
            Column("arn", identifier=True),
            Column("kind"),
            Column("version"),
            Column("document"),
        ),
    )
    rows = [("identity", x) for x in p.identity] + [("session", x) for x in session_policies]
    if p.boundary is not None:
        rows.append(("boundary", p.boundary))
    for applies, x in rows:
        listing.add(
            applies,
            x.label,
            x.arn or "none (inline)",
            x.kind,
            x.version_id or "none recorded",
            _origin(x),
        )
    return listing


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


@contextmanager
def _queries(db_path: str) -> Iterator[Queries]:
    from pipeline.queries import Queries

    q = Queries.open(db_path)
    try:
        yield q
    finally:
        q.close()
