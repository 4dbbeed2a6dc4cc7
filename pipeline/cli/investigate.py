"""`who-held`, `session`, `trace`: the investigator's questions, as thin layers over queries.

The query API (DuckDB, pyarrow, pydantic) is imported when a command runs, not when this
module loads: `rolecall who-held --help` stays quick.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from pipeline.cli.common import (
    TIME,
    csv_option,
    db_option,
    emit_json,
    json_option,
    one_format,
    out,
)
from pipeline.cli.knownat import answering, known_at_options, known_note
from pipeline.cli.listing import Column, Listing, emit_csv, show

if TYPE_CHECKING:
    from rich.tree import Tree

    from pipeline.queries import ActionView, SessionView
    from pipeline.reports import KnownAt


def end_text(s: SessionView) -> str:
    """The end and why, with its basis when it is an estimate."""
    from pipeline.timeutil import iso

    if s.ends_at_estimated:
        return f"{iso(s.ends_at)} ({s.ends_at_basis})"
    return f"{iso(s.ends_at)} ({s.end_reason})"


def start_text(s: SessionView) -> str:
    from pipeline.timeutil import iso

    if s.started_at_estimated:
        return f"{iso(s.started_at)} ({s.started_at_basis})"
    return str(iso(s.started_at))


SESSION_COLUMNS = (
    Column("session", identifier=True),
    Column("role", identifier=True),
    Column("principal", identifier=True),
    Column("origin", identifier=True),
    Column("via"),
    Column("started"),
    Column("ends"),
    Column("why"),
)


def sessions_listing(
    sessions: list[SessionView], title: str, *, with_keys: bool = False
) -> Listing:
    """Sessions, one a row; `with_keys` adds the access keys each held (for a chain)."""
    from pipeline.timeutil import iso

    columns = SESSION_COLUMNS + ((Column("keys", identifier=True),) if with_keys else ())
    listing = Listing(title, columns)
    for s in sessions:
        row = [
            s.session_id,
            s.role_arn or "(the user's own)",
            s.principal_label,
            s.origin_label,
            s.via or "unknown",
            start_text(s),
            f"{iso(s.ends_at)} (estimated)" if s.ends_at_estimated else str(iso(s.ends_at)),
            s.ends_at_basis if s.ends_at_estimated else s.end_reason,
        ]
        if with_keys:
            row.append(" ".join(s.access_key_ids) or "none recorded")
        listing.add(*row)
    return listing


def chain_tree(chain: list[SessionView]) -> Tree:
    from rich.tree import Tree

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


def _lifetime_style(value: str) -> str | None:
    return "bold red" if value.startswith(("after", "before")) else None


ACTION_COLUMNS = (
    Column("time"),
    Column("action", identifier=True),
    Column("resources", identifier=True),
    Column("outcome"),
    Column("from", identifier=True),
    Column("in lifetime", style=_lifetime_style),
)


def actions_listing(actions: list[ActionView], title: str | None = None) -> Listing:
    from pipeline.timeutil import iso

    outside = sum(a.lifetime.startswith(("after", "before")) for a in actions)
    note = f", {outside} outside the session's lifetime" if outside else ""
    listing = Listing(title or f"{len(actions)} actions{note}", ACTION_COLUMNS)
    for a in actions:
        listing.add(
            iso(a.event_time),
            a.action,
            ", ".join(a.resources) or "none recorded",
            a.outcome,
            a.source_ip or "not recorded",
            a.lifetime,
        )
    return listing


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
@known_at_options
@json_option
@csv_option
def who_held_command(
    at: datetime,
    role_arn: str | None,
    principal_arn: str | None,
    account_id: str | None,
    limit: int | None,
    offset: int,
    db_path: str,
    log_url: str,
    as_known_at: datetime | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Who held which role at a moment, and on whose behalf.

    Ends that are not recorded are estimates, labelled with their basis ("ends_at_basis"
    in JSON); a session is never shown ending before its last successful call. `--json`
    prints a list of every session active at the moment, in start order, streamed as it
    is read; `--limit`/`--offset` page it. `--csv` prints the table's columns.

    \b
    Examples:
      rolecall who-held --at 2026-01-05T12:00:00Z
      rolecall who-held --at 2026-01-06T14:10:00Z --role OrgAdmin
      rolecall who-held --at 2026-01-06T14:10:00Z --json \\
        --role arn:aws:iam::444455556666:role/OrgAdmin
      rolecall who-held --at 2026-01-05T12:00:00Z --limit 50 --offset 100
      rolecall who-held --at 2026-01-05T12:00:00Z --csv > held.csv
      rolecall who-held --at 2026-01-05T12:00:00Z --as-known-at 2026-01-06T00:00:00Z
    """
    from pipeline.timeutil import iso

    one_format(as_json, as_csv)
    with answering(db_path, log_url, as_known_at) as (q, known):
        held = q.held_at(
            at=at, role_arn=role_arn, principal_arn=principal_arn, account_id=account_id
        )
        if as_json and limit is None and not offset:
            emit_sessions_json(q.sessions.stream(held))
            return
        page = q.sessions.page(held, limit=limit, offset=offset)
    if as_json:
        emit_sessions_json(page.sessions)
        return
    shown = len(page.sessions)
    title = f"{page.total} sessions active at {iso(at)}"
    if shown < page.total:
        title += f" (showing {offset + 1 if shown else offset}-{offset + shown})"
    listing = sessions_listing(page.sessions, title)
    if as_csv:
        emit_csv(listing)
    else:
        _say_known(known)
        show(listing)


def emit_sessions_json(views: Iterable[SessionView]) -> None:
    """Session views as a JSON list, written as they come: the text `emit_json_list` writes.

    Scripts rely on that text (who-held's `--json`, #16). `json.dumps(indent=2)` encodes in
    Python, a tenth of a second per thousand views; orjson writes the same text for a
    view's types (strings, booleans, integers, null, lists, objects of strings), except
    for characters past printable ASCII, which `json` escapes: an item holding one is
    written by `json` itself.
    """
    import json

    import orjson

    first = True
    for view in views:
        item = view.model_dump(mode="json")
        text = orjson.dumps(item, option=orjson.OPT_INDENT_2).decode()
        if not text.isascii() or "\x7f" in text:
            text = json.dumps(item, indent=2, default=str)
        click.echo(("[\n  " if first else ",\n  ") + text.replace("\n", "\n  "), nl=False)
        first = False
    click.echo("[]" if first else "\n]")


def _say_known(known: KnownAt | None) -> None:
    note = known_note(known)
    if note:
        out().print(note, markup=False)


SESSION_LISTS = ("actions", "chain")


@click.command("session")
@click.argument("session_id")
@db_option
@known_at_options
@json_option
@csv_option
@click.option(
    "--list",
    "which",
    type=click.Choice(SESSION_LISTS),
    default="actions",
    show_default=True,
    help="The list --csv prints: the recorded actions, or the chain from the origin down.",
)
def session_command(
    session_id: str,
    db_path: str,
    log_url: str,
    as_known_at: datetime | None,
    as_json: bool,
    as_csv: bool,
    which: str,
) -> None:
    """One session: its chain, credentials, policy, tags and recorded actions.

    SESSION_ID is a session id or any access key the session held. Calls made after the
    session's exit, revocation or expiry are marked.

    \b
    Examples:
      rolecall session ASIAEXAMPLEKEY000001
      rolecall session ASIAEXAMPLEKEY000001 --csv --list chain
      rolecall session ASIAEXAMPLEKEY000001 --as-known-at 2026-01-06T00:00:00Z
    """
    one_format(as_json, as_csv)
    with answering(db_path, log_url, as_known_at) as (q, known):
        detail = q.session(session_id)
    if as_json:
        emit_json(detail)
        return
    if as_csv:
        if which == "chain":
            emit_csv(sessions_listing(detail.chain, "chain", with_keys=True))
        else:
            emit_csv(actions_listing(detail.actions))
        return
    s = detail.session
    console = out()
    _say_known(known)
    console.print(chain_tree(detail.chain))
    console.print(escape(f"session policy: {s.session_policy or 'none'}"))
    console.print(
        escape(f"tags: {s.session_tags or 'none'}  source identity: {s.source_identity or 'none'}")
    )
    show(actions_listing(detail.actions), console)


TRACE_LISTS = ("chain", "sessions", "calls")


@click.command("trace")
@click.argument("access_key_id")
@db_option
@known_at_options
@json_option
@csv_option
@click.option(
    "--list",
    "which",
    type=click.Choice(TRACE_LISTS),
    default=None,
    help="The list --csv prints: a temporary key's chain (its default), or a long-term "
    "key's sessions or calls (default: calls).",
)
def trace_command(
    access_key_id: str,
    db_path: str,
    log_url: str,
    as_known_at: datetime | None,
    as_json: bool,
    as_csv: bool,
    which: str | None,
) -> None:
    """Follow an access key to its session, up the chain to the human or service behind it.

    A temporary key (ASIA...) gives its session's chain up to the origin; a long-term key
    (AKIA...) gives its IAM user, the sessions it opened and its recorded calls. Key ids
    are trimmed and upper-cased.

    \b
    Examples:
      rolecall trace ASIAEXAMPLEKEY000001 --json
      rolecall trace AKIAEXAMPLEKEY000001
      rolecall trace AKIAEXAMPLEKEY000001 --csv --list sessions
      rolecall trace ASIAEXAMPLEKEY000001 --as-known-at 2026-01-06T00:00:00Z
    """
    from pipeline.errors import InputError
    from pipeline.queries import LongTermKeyTrace

    one_format(as_json, as_csv)
    with answering(db_path, log_url, as_known_at) as (q, known):
        trace = q.trace(access_key_id)
    if as_json:
        emit_json(trace)
        return
    if isinstance(trace, LongTermKeyTrace):
        shown = len(trace.actions)
        more = f" (first {shown})" if shown < trace.actions_total else ""
        calls = actions_listing(trace.actions, f"{trace.actions_total} recorded calls{more}")
        opened = sessions_listing(trace.sessions, f"{len(trace.sessions)} sessions it opened")
        if as_csv:
            if which == "chain":
                raise InputError(f"{trace.access_key_id} is a long-term key: it has no chain")
            emit_csv(opened if which == "sessions" else calls)
            return
        console = out()
        _say_known(known)
        console.print(escape(f"{trace.access_key_id}: long-term key of {trace.principal_label}"))
        if trace.sessions:
            show(opened, console)
        show(calls, console)
        return
    if as_csv:
        if which not in (None, "chain"):
            raise InputError(f"{trace.access_key_id} is a temporary key: its list is its chain")
        emit_csv(sessions_listing(trace.chain, "chain", with_keys=True))
        return
    _say_known(known)
    out().print(chain_tree(trace.chain))
