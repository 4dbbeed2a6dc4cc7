"""`who-held`, `session`, `trace`: the investigator's questions, as thin layers over queries."""

from __future__ import annotations

from datetime import datetime

import click
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from pipeline.cli.common import TIME, db_option, emit_json, emit_json_list, json_option, stdout
from pipeline.queries import ActionView, LongTermKeyTrace, Queries, SessionView
from pipeline.timeutil import iso


def end_text(s: SessionView) -> str:
    """The end and why, with its basis when it is an estimate."""
    if s.ends_at_estimated:
        return f"{iso(s.ends_at)} ({s.ends_at_basis})"
    return f"{iso(s.ends_at)} ({s.end_reason})"


def start_text(s: SessionView) -> str:
    if s.started_at_estimated:
        return f"{iso(s.started_at)} ({s.started_at_basis})"
    return str(iso(s.started_at))


def sessions_table(sessions: list[SessionView], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("session", "role", "principal", "origin", "via", "started", "ends", "why"):
        table.add_column(col, overflow="fold")
    for s in sessions:
        table.add_row(
            s.session_id,
            s.role_arn or "(the user's own)",
            s.principal_label,
            s.origin_label,
            s.via or "unknown",
            start_text(s),
            f"{iso(s.ends_at)} (estimated)" if s.ends_at_estimated else str(iso(s.ends_at)),
            s.ends_at_basis if s.ends_at_estimated else s.end_reason,
        )
    return table


def chain_tree(chain: list[SessionView]) -> Tree:
    root = chain[0]
    kind = f", {root.origin_type}" if root.origin_type and root.origin_resolved else ""
    tree = Tree(escape(f"{root.origin_label} (origin{kind})"), highlight=False)
    node = tree
    for s in chain:
        keys = ", ".join(s.access_key_ids) or "no key"
        node = node.add(
            escape(f"{s.role_arn or s.session_arn or s.session_id} ")
            + f"[dim]via {s.via}[/] "
            + escape(f"{start_text(s)} -> {end_text(s)}")
            + f" [dim]{keys}[/]"
        )
    return tree


@click.command("who-held")
@click.option("--at", "at", type=TIME, required=True, help="The moment (ISO 8601, UTC).")
@click.option(
    "--role", "role_arn", help="Only this role: its ARN (with or without path) or its name."
)
@click.option(
    "--principal",
    "principal_arn",
    help="Only sessions whose caller, origin or session ARN is this.",
)
@click.option(
    "--account", "account_id", help="Only this 12-digit account (an unknown one is an error)."
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    help="At most this many sessions (in start order); the table says how many there are.",
)
@click.option(
    "--offset", type=click.IntRange(min=0), default=0, help="Skip this many sessions first."
)
@db_option
@json_option
def who_held_command(
    at: datetime,
    role_arn: str | None,
    principal_arn: str | None,
    account_id: str | None,
    limit: int | None,
    offset: int,
    db_path: str,
    as_json: bool,
) -> None:
    """Who held which role at a moment, and on whose behalf.

    Ends that are not recorded are estimates, labelled with their basis ("ends_at_basis"
    in JSON); a session is never shown ending before its last successful call. `--json`
    prints a list of every session active at the moment, in start order, streamed as it
    is read; `--limit`/`--offset` page it.

    \b
    Examples:
      rolecall who-held --at 2026-01-05T12:00:00Z
      rolecall who-held --at 2026-01-06T14:10:00Z --role OrgAdmin
      rolecall who-held --at 2026-01-06T14:10:00Z --json \\
        --role arn:aws:iam::444455556666:role/OrgAdmin
      rolecall who-held --at 2026-01-05T12:00:00Z --limit 50 --offset 100
    """
    with Queries.open(db_path) as q:
        held = q.held_at(
            at=at, role_arn=role_arn, principal_arn=principal_arn, account_id=account_id
        )
        if as_json and limit is None and not offset:
            emit_json_list(_who_held_json(s) for s in q.sessions.stream(held))
            return
        page = q.sessions.page(held, limit=limit, offset=offset)
    if as_json:
        emit_json([_who_held_json(s) for s in page.sessions])
        return
    shown = len(page.sessions)
    title = f"{page.total} sessions active at {iso(at)}"
    if shown < page.total:
        title += f" (showing {offset + 1 if shown else offset}-{offset + shown})"
    stdout.print(sessions_table(page.sessions, title))


def _who_held_json(s: SessionView) -> dict[str, object]:
    return s.model_dump(mode="json")


@click.command("session")
@click.argument("session_id")
@db_option
@json_option
def session_command(session_id: str, db_path: str, as_json: bool) -> None:
    """One session: its chain, credentials, policy, tags and recorded actions.

    SESSION_ID is a session id or any access key the session held. Calls made after the
    session's exit, revocation or expiry are marked.

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
    stdout.print(escape(f"session policy: {s.session_policy or 'none'}"))
    stdout.print(
        escape(f"tags: {s.session_tags or 'none'}  source identity: {s.source_identity or 'none'}")
    )
    stdout.print(actions_table(detail.actions))


def actions_table(actions: list[ActionView], title: str | None = None) -> Table:
    outside = sum(a.lifetime.startswith(("after", "before")) for a in actions)
    note = f", {outside} outside the session's lifetime" if outside else ""
    table = Table(title=title or f"{len(actions)} actions{note}", title_justify="left")
    for col in ("time", "action", "resources", "outcome", "from", "in lifetime"):
        table.add_column(col, overflow="fold")
    for a in actions:
        table.add_row(
            iso(a.event_time),
            a.action,
            ", ".join(a.resources),
            a.outcome,
            a.source_ip or "not recorded",
            f"[bold red]{a.lifetime}[/]"
            if a.lifetime.startswith(("after", "before"))
            else a.lifetime,
        )
    return table


@click.command("trace")
@click.argument("access_key_id")
@db_option
@json_option
def trace_command(access_key_id: str, db_path: str, as_json: bool) -> None:
    """Follow an access key to its session, up the chain to the human or service behind it.

    A temporary key (ASIA...) gives its session's chain up to the origin; a long-term key
    (AKIA...) gives its IAM user, the sessions it opened and its recorded calls. Key ids
    are trimmed and upper-cased.

    \b
    Examples:
      rolecall trace ASIAEXAMPLEKEY000001 --json
      rolecall trace AKIAEXAMPLEKEY000001
    """
    with Queries.open(db_path) as q:
        trace = q.trace(access_key_id)
    if as_json:
        emit_json(trace)
    elif isinstance(trace, LongTermKeyTrace):
        stdout.print(escape(f"{trace.access_key_id}: long-term key of {trace.principal_label}"))
        if trace.sessions:
            stdout.print(
                sessions_table(trace.sessions, f"{len(trace.sessions)} sessions it opened")
            )
        shown = len(trace.actions)
        more = f" (first {shown})" if shown < trace.actions_total else ""
        stdout.print(actions_table(trace.actions, f"{trace.actions_total} recorded calls{more}"))
    else:
        stdout.print(chain_tree(trace.chain))
