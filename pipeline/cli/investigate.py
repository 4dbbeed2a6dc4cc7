"""`who-held`, `session`, `trace`: the investigator's questions, as thin layers over queries."""

from __future__ import annotations

from datetime import datetime

import click
from rich.table import Table
from rich.tree import Tree

from pipeline.cli.common import TIME, db_option, emit_json, json_option, stdout
from pipeline.queries import Queries, SessionView
from pipeline.timeutil import iso


def _short(arn: str | None) -> str:
    return "-" if arn is None else arn


def sessions_table(sessions: list[SessionView], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("session", "role", "principal", "origin", "via", "started", "ends", "why"):
        table.add_column(col, overflow="fold")
    for s in sessions:
        table.add_row(
            s.session_id,
            _short(s.role_arn),
            _short(s.principal_arn),
            _short(s.origin_arn),
            s.via or "-",
            iso(s.started_at),
            iso(s.ends_at),
            s.end_reason,
        )
    return table


def chain_tree(chain: list[SessionView]) -> Tree:
    root = chain[0]
    tree = Tree(f"[bold]{root.origin_arn or root.principal_arn}[/] (origin, {root.origin_type})")
    node = tree
    for s in chain:
        keys = ", ".join(s.access_key_ids) or "no key"
        node = node.add(
            f"{s.role_arn or s.session_arn} [dim]via {s.via}[/] "
            f"{iso(s.started_at)} -> {iso(s.ends_at)} ({s.end_reason}) [dim]{keys}[/]"
        )
    return tree


@click.command("who-held")
@click.option("--at", "at", type=TIME, required=True, help="The moment (ISO 8601, UTC).")
@click.option("--role", "role_arn", help="Only this role ARN.")
@click.option(
    "--principal",
    "principal_arn",
    help="Only sessions whose caller, origin or session ARN is this.",
)
@click.option("--account", "account_id", help="Only this 12-digit account.")
@db_option
@json_option
def who_held_command(
    at: datetime,
    role_arn: str | None,
    principal_arn: str | None,
    account_id: str | None,
    db_path: str,
    as_json: bool,
) -> None:
    """Who held which role at a moment, and on whose behalf.

    \b
    Examples:
      rolecall who-held --at 2026-01-05T12:00:00Z
      rolecall who-held --at 2026-01-06T14:10:00Z --json \
        --role arn:aws:iam::444455556666:role/OrgAdmin
    """
    with Queries.open(db_path) as q:
        sessions = q.who_held(
            at=at, role_arn=role_arn, principal_arn=principal_arn, account_id=account_id
        )
    if as_json:
        emit_json([_who_held_json(s) for s in sessions])
    else:
        stdout.print(sessions_table(sessions, f"{len(sessions)} sessions active at {iso(at)}"))


def _who_held_json(s: SessionView) -> dict[str, object]:
    return s.model_dump(mode="json")


@click.command("session")
@click.argument("session_id")
@db_option
@json_option
def session_command(session_id: str, db_path: str, as_json: bool) -> None:
    """One session: its chain, credentials, policy, tags and recorded actions.

    \b
    Example:
      rolecall session ASIAEXAMPLEKEY000001
    """
    with Queries.open(db_path) as q:
        detail = q.session(session_id)
    if as_json:
        emit_json(detail)
        return
    s = detail.session
    stdout.print(chain_tree(detail.chain))
    stdout.print(f"session policy: {s.session_policy or '-'}")
    stdout.print(f"tags: {s.session_tags or '-'}  source identity: {s.source_identity or '-'}")
    table = Table(title=f"{len(detail.actions)} actions", title_justify="left")
    for col in ("time", "action", "resources", "outcome", "from"):
        table.add_column(col, overflow="fold")
    for a in detail.actions:
        table.add_row(
            iso(a.event_time), a.action, ", ".join(a.resources), a.outcome, a.source_ip or "-"
        )
    stdout.print(table)


@click.command("trace")
@click.argument("access_key_id")
@db_option
@json_option
def trace_command(access_key_id: str, db_path: str, as_json: bool) -> None:
    """Follow an access key to its session, up the chain to the human or service behind it.

    \b
    Example:
      rolecall trace ASIAEXAMPLEKEY000001 --json
    """
    with Queries.open(db_path) as q:
        trace = q.trace(access_key_id)
    if as_json:
        emit_json(trace)
    else:
        stdout.print(chain_tree(trace.chain))
