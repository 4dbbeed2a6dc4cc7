"""`dashboard`, `serve` and `replay`: watching the history, in a browser or a terminal.

The store, the log and Dash are imported when a command runs, not when this module loads.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import Any, TypeVar

import click

from pipeline.cli.common import (
    TIME,
    csv_option,
    db_option,
    emit_json,
    json_option,
    log_option,
    one_format,
    out,
    stderr,
)
from pipeline.cli.listing import Column, Listing, emit_csv
from pipeline.errors import InputError, RolecallError

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
USER_ENV, PASSWORD_ENV = "ROLECALL_DASHBOARD_USER", "ROLECALL_DASHBOARD_PASSWORD"
ALLOWED_HOSTS_ENV = "ROLECALL_DASHBOARD_ALLOWED_HOSTS"


def _host_option(func: F) -> F:
    func = click.option(
        "--allowed-host",
        "allowed_hosts",
        multiple=True,
        metavar="NAME[:PORT]",
        help="Another name the dashboard may be reached by (a reverse proxy's); repeatable, "
        f"also {ALLOWED_HOSTS_ENV} (comma-separated). Requests naming any other Host get 400.",
    )(func)
    func = click.option("--port", default=8050, show_default=True, type=click.IntRange(0, 65535))(
        func
    )
    return click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        help=f"Address to bind (IPv6 as ::1 or [::1]). Any non-loopback address needs {USER_ENV} "
        f"and {PASSWORD_ENV} (HTTP basic auth on every request).",
    )(func)


def allowed_hosts_of(given: tuple[str, ...]) -> tuple[str, ...]:
    """The --allowed-host names and those of the environment, checked."""
    from dashboards.access import AllowedHosts

    env = [h.strip() for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()]
    names = (*given, *env)
    for name in names:
        if not AllowedHosts.valid(name):
            raise InputError(f"bad allowed host {name!r}: want NAME or NAME:PORT")
    return names


def _wait_until_stopped(stop: threading.Event) -> None:
    """Block the main thread until Ctrl-C or SIGTERM."""

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_dashboard(
    db_path: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8050,
    hosts: tuple[str, ...] = (),
    log_url: str | None = None,
) -> None:
    """Serve the dashboard over a read-only database until interrupted (with `log_url`,
    the Replay can also answer as known at a moment)."""
    # Imported here: the dashboard pulls in Dash and Flask, which other commands never need.
    from dashboards.access import access_rule
    from dashboards.server import DashboardServer
    from dashboards.source import QuerySource

    credentials = access_rule(host, os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV))
    extra = allowed_hosts_of(hosts)
    source = QuerySource.open_read_only(db_path, log_url=log_url)
    try:
        server = DashboardServer(
            source, host=host, port=port, credentials=credentials, allowed_hosts=extra
        ).start()
    except BaseException:
        source.close()
        raise
    out().print(f"dashboard at {server.url} (database {db_path}, read-only; Ctrl-C to stop)")
    try:
        _wait_until_stopped(threading.Event())
    finally:
        server.stop()
        source.close()


@click.command("dashboard")
@db_option
@click.option(
    "--log",
    "log_url",
    default=None,
    metavar="URL",
    help="The log the database was built from (file:DIR or kafka://HOST:PORT/TOPIC): lets "
    "the Replay answer as known at a moment (the records ingested by then). Default: none.",
)
@_host_option
def dashboard_command(
    db_path: str, log_url: str | None, host: str, port: int, allowed_hosts: tuple[str, ...]
) -> None:
    """Serve the replay dashboard over the database (opened read-only).

    \b
    Examples:
      rolecall dashboard --db ./data/rolecall.duckdb
      rolecall dashboard --db ./data/rolecall.duckdb --log file:./data/log
      ROLECALL_DASHBOARD_USER=audit ROLECALL_DASHBOARD_PASSWORD=... \\
        rolecall dashboard --host 0.0.0.0 --port 8050 --allowed-host rolecall.corp.example
    """
    serve_dashboard(db_path, host=host, port=port, hosts=allowed_hosts, log_url=log_url)


@click.command("serve")
@log_option
@db_option
@_host_option
def serve_command(
    log_url: str, db_path: str, host: str, port: int, allowed_hosts: tuple[str, ...]
) -> None:
    """Keep materializing from the log and serve the dashboard, in one process.

    DuckDB lets one process write a file, so the materializer and the dashboard share
    one database instance: the materializer writes on its connection, every request
    reads on its own cursor and sees each committed batch.

    \b
    Example:
      rolecall serve --log file:./data/log --db ./data/rolecall.duckdb --port 8050
    """
    from dashboards.access import access_rule
    from dashboards.server import DashboardServer
    from dashboards.source import QuerySource
    from pipeline.log import open_log
    from pipeline.materializer import materialize
    from pipeline.store import Store

    credentials = access_rule(host, os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV))
    extra = allowed_hosts_of(allowed_hosts)
    stop = threading.Event()
    failure: list[BaseException] = []
    with open_log(log_url, create=False) as event_log, Store(db_path) as store:
        # The readers' root cursor is taken here, before the writer thread starts using
        # the connection: DuckDB connections are not shared across threads, cursors are.
        source = QuerySource(store.con.cursor(), log_url=log_url)

        def follow() -> None:
            try:
                materialize(event_log, store, follow=True, stop=stop)
            except RolecallError as exc:
                failure.append(exc)
                stop.set()

        worker = threading.Thread(target=follow, name="materializer", daemon=True)
        worker.start()
        server = DashboardServer(
            source, host=host, port=port, credentials=credentials, allowed_hosts=extra
        ).start()
        out().print(f"dashboard at {server.url}; materializing {log_url} -> {db_path}")
        try:
            _wait_until_stopped(stop)
        finally:
            stop.set()
            server.stop()
            worker.join(timeout=30)
            source.close()
    if failure:
        raise failure[0] if isinstance(failure[0], RolecallError) else RuntimeError(failure[0])


_REPLAY_COLUMNS = (
    Column("time"),
    Column("kind"),
    Column("basis"),
    Column("role", identifier=True),
    Column("principal", identifier=True),
    Column("origin", identifier=True),
    Column("via"),
    Column("session", identifier=True),
)


@click.command("replay")
@click.option("--from", "start", type=TIME, required=True, help="Window start (ISO 8601).")
@click.option("--to", "end", type=TIME, required=True, help="Window end (ISO 8601, exclusive).")
@click.option("--role", "role_arn", help="Only this role ARN.")
@click.option("--principal", help="Only sessions whose caller, origin or session ARN is this.")
@click.option("--account", "account_id", help="Only this 12-digit account.")
@click.option("--via", help="Only sessions assumed this way (e.g. SAML, ASSUME_ROLE).")
@db_option
@json_option
@csv_option
def replay_command(
    start: datetime,
    end: datetime,
    role_arn: str | None,
    principal: str | None,
    account_id: str | None,
    via: str | None,
    db_path: str,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Replay a window in the terminal: every session start, exit, expiry and revocation.

    \b
    Examples:
      rolecall replay --from 2026-01-05T09:00:00Z --to 2026-01-05T12:00:00Z
      rolecall replay --from 2026-01-06 --to 2026-01-07 --via SAML --json
      rolecall replay --from 2026-01-06 --to 2026-01-07 --csv > replay.csv
    """
    from pipeline.queries import Queries
    from pipeline.sessions import SessionFilter
    from pipeline.timeutil import iso

    one_format(as_json, as_csv)
    flt = SessionFilter(account_id=account_id, role_arn=role_arn, principal=principal, via=via)
    with Queries.open(db_path) as q:
        events = q.replay_events(start, end, flt)
    if as_json:
        emit_json(events)
        return
    if as_csv:
        listing = Listing(f"{len(events)} events", _REPLAY_COLUMNS)
        for e in events:
            listing.add(
                iso(e.time),
                e.kind,
                f"estimated: {e.basis}" if e.estimated else "recorded",
                e.role_arn or "(the user's own)",
                e.principal_label or "unknown",
                e.origin_label or "unknown",
                e.via or "unknown",
                e.session_id,
            )
        emit_csv(listing)
        return
    for e in events:
        kind = f"{e.kind} ({e.basis})" if e.estimated else e.kind
        role = e.role_arn or "(the user's own)"
        click.echo(
            f"{iso(e.time)}  {kind:<10}  {role}  "
            f"principal {e.principal_label}  origin {e.origin_label}  via {e.via or 'unknown'}  "
            f"{e.session_id}"
        )
    stderr.print(f"{len(events)} event(s) from {iso(start)} to {iso(end)}", markup=False)
