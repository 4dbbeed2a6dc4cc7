"""`rolecall report`: reproducible compliance reports (who held a power in a period, as
known at any moment), their verification and their differences.

The library (`pipeline.reports`) is imported when a command runs."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pipeline.cli.common import (
    DEFAULT_LOG_URL,
    TIME,
    csv_option,
    db_option,
    emit_json,
    heading,
    json_option,
    one_format,
    out,
)
from pipeline.cli.knownat import answering, known_at_options, known_note
from pipeline.cli.listing import Column, Listing, emit_csv, show

if TYPE_CHECKING:
    from pipeline.reports import Privilege, Report

F = TypeVar("F", bound=Callable[..., Any])


@click.group("report")
def report_group() -> None:
    """Compliance reports: who held a power in a period, as known at any moment, verified.

    \b
    Examples:
      rolecall report privileged --from 2026-01-01T00:00:00Z --to 2026-04-01T00:00:00Z
      rolecall report privileged --from 2026-01-05 --to 2026-01-12 --html report.html
      rolecall report verify report.html
      rolecall report diff --from 2026-01-05 --to 2026-01-12 \\
        --as-known-at 2026-01-12T00:00:00Z --as-known-at 2026-02-01T00:00:00Z
    """


def _period_options(func: F) -> F:
    func = click.option(
        "--to", "period_to", type=TIME, required=True, help="The period's end (excluded)."
    )(func)
    return click.option(
        "--from", "period_from", type=TIME, required=True, help="The period's start."
    )(func)


def _privilege_options(func: F) -> F:
    func = click.option(
        "--policy",
        "policy_arn",
        help="Privileged: this managed policy attached (by ARN) at the session's start.",
    )(func)
    func = click.option(
        "--resource", help="With --action: the resource (ARN or *) the action is on."
    )(func)
    return click.option(
        "--action",
        help="Privileged: may perform this action (with --resource) at the session's start. "
        "Default: can administer IAM (iam:* or *:*).",
    )(func)


def _privilege(action: str | None, resource: str | None, policy_arn: str | None) -> Privilege:
    from pipeline.reports import Privilege

    if policy_arn and (action or resource):
        raise click.UsageError("--policy excludes --action/--resource: choose one")
    if policy_arn:
        return Privilege(kind="policy", policy_arn=policy_arn.strip())
    if action or resource:
        if not (action and resource):
            raise click.UsageError("--action and --resource go together")
        from pipeline.permissions.session import check_request

        check_request(action, resource)
        return Privilege(kind="action", action=action, resource=resource)
    return Privilege()


def _command_line() -> str:
    """The command as it was given (rebuilt from its parsed options, so that it is the
    same however it was spelled: an environment variable, a default made explicit)."""
    ctx = click.get_current_context()
    words = ["rolecall", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if value in (None, False, (), param.default) or not isinstance(param, click.Option):
            continue
        for one in value if isinstance(value, tuple) else (value,):
            words.append(param.opts[0])
            if not param.is_flag:
                words.append(_word(one))
    return shlex.join(words)


def _word(value: object) -> str:
    if isinstance(value, datetime):
        from pipeline.timeutil import iso_z

        return iso_z(value)
    return str(value)


_SESSION_COLUMNS = (
    Column("session", identifier=True),
    Column("principal", identifier=True),
    Column("origin", identifier=True),
    Column("role", identifier=True),
    Column("account"),
    Column("how assumed"),
    Column("start"),
    Column("end"),
    Column("MFA", style=lambda v: "bold red" if v == "no" else None),
    Column("source IPs"),
    Column("actions"),
    Column("denied"),
    Column("privilege"),
)
_ORIGIN_COLUMNS = (
    Column("origin", identifier=True),
    Column("sessions"),
    Column("hours held"),
    Column("without MFA"),
    Column("MFA unknown"),
    Column("estimated ends"),
    Column("first start"),
    Column("last end"),
)


def sessions_listing(report: Report) -> Listing:
    from pipeline.reports.tabular import session_cells

    listing = Listing(
        f"{len(report.sessions)} sessions that {report.privilege['description']}",
        _SESSION_COLUMNS,
    )
    for s in report.sessions:
        listing.add(*session_cells(s))
    return listing


def origins_listing(report: Report) -> Listing:
    from pipeline.reports.tabular import origin_cells

    listing = Listing(f"{len(report.origins)} origins", _ORIGIN_COLUMNS)
    for o in report.origins:
        listing.add(*origin_cells(o))
    return listing


def evidence_lines(report: Report) -> list[str]:
    ev = report.evidence
    lines = [f"command: {ev.command}", f"rolecall {ev.rolecall_version}"]
    for name, parts in sorted(ev.positions.items()):
        lines.append(
            f"log {name}: positions "
            + ", ".join(f"p{p}<{o}" for p, o in sorted(parts.items(), key=lambda x: int(x[0])))
        )
    for h in ev.digest.get("heads", []):
        lines.append(
            f"digest: {h['log_name']} p{h['partition']} @{h['last_offset']} "
            f"({h['events']} events) {h['head']}"
        )
    return lines


def _print_report(report: Report) -> None:
    from pipeline.timeutil import iso_z

    console = out()
    note = known_note(report.evidence.known_at)
    heading(
        f"Privileged access {iso_z(report.period_from)} to {iso_z(report.period_to)}: "
        f"sessions that {report.privilege['description']}"
    )
    if note:
        console.print(note, markup=False)
    show(origins_listing(report), console)
    show(sessions_listing(report), console)
    if report.undecided:
        console.print(
            f"{len(report.undecided)} session(s) could not be decided (e.g. "
            f"{report.undecided[0].session_id}: {report.undecided[0].reason}); --json lists them",
            markup=False,
        )
    console.print("Evidence:", markup=False)
    for line in evidence_lines(report):
        console.print("  " + line, markup=False)


def write_html(report: Report, path: str) -> Path:
    from pipeline.errors import InputError
    from pipeline.reports.html import render_html

    target = Path(path)
    try:
        target.write_text(render_html(report), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return target


def build_report(
    db_path: str,
    log_url: str,
    as_known_at: datetime | None,
    period: tuple[datetime, datetime],
    privilege: Privilege,
    command: str,
) -> Report:
    from pipeline.reports import Period, privileged_report

    span = Period(*period)
    exists = (
        log_url.startswith("kafka://")
        or (Path(log_url.removeprefix("file:")) / "log.json").exists()
    )
    with answering(db_path, log_url, as_known_at) as (q, known):
        return privileged_report(
            q,
            span,
            privilege,
            command=command,
            generated_at=datetime.now(UTC),
            log_url=log_url if exists else None,  # named only when there is one to read
            known_at=known,
        )


@report_group.command("privileged")
@_period_options
@_privilege_options
@db_option
@known_at_options
@json_option
@csv_option
@click.option(
    "--list",
    "which",
    type=click.Choice(("sessions", "origins")),
    default="sessions",
    show_default=True,
    help="The list --csv prints: the sessions, or the summary per origin.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    help="Also write the report as one self-contained HTML file (opens offline).",
)
def privileged_command(
    period_from: datetime,
    period_to: datetime,
    action: str | None,
    resource: str | None,
    policy_arn: str | None,
    db_path: str,
    log_url: str,
    as_known_at: datetime | None,
    as_json: bool,
    as_csv: bool,
    which: str,
    html_path: str | None,
) -> None:
    """Every session in the period that held a power, and a summary per origin.

    Privileged by default means able to administer IAM (iam:* or *:*) by the policies
    in force at the session's start; or --action A --resource R; or --policy ARN.
    Each session has its principal, origin, role, account, how it was assumed, start,
    end (estimated ends say so, with their basis), MFA, source IPs and its calls in the
    period (denied ones counted apart). Every report carries its evidence: the log
    positions and the digest it was computed from, the rolecall version and the command;
    `rolecall report verify` recomputes it.

    \b
    Examples:
      rolecall report privileged --from 2026-01-05 --to 2026-01-12
      rolecall report privileged --from 2026-01-01 --to 2026-04-01 --html q1.html
      rolecall report privileged --from 2026-01-05 --to 2026-01-12 \\
        --policy arn:aws:iam::aws:policy/AdministratorAccess --json > report.json
      rolecall report privileged --from 2026-01-05 --to 2026-01-12 \\
        --action s3:DeleteBucket --resource '*' --csv
      rolecall report privileged --from 2026-01-05 --to 2026-01-12 \\
        --as-known-at 2026-01-12T09:00:00Z
    """
    one_format(as_json, as_csv)
    privilege = _privilege(action, resource, policy_arn)
    report = build_report(
        db_path, log_url, as_known_at, (period_from, period_to), privilege, _command_line()
    )
    written = write_html(report, html_path) if html_path else None
    if as_json:
        emit_json(report.as_json())
    elif as_csv:
        emit_csv(origins_listing(report) if which == "origins" else sessions_listing(report))
    else:
        _print_report(report)
    if written is not None:
        click.echo(f"HTML report written to {written}", err=as_json or as_csv)


def _log_for_verify(log_url: str | None, report: Report) -> str | None:
    """The log to recompute from: the one named, else the report's own, if it exists."""
    from pipeline.errors import InputError

    url = log_url or report.evidence.log_url or DEFAULT_LOG_URL
    if url.startswith("kafka://"):
        return url
    if not (Path(url.removeprefix("file:")) / "log.json").exists():
        if log_url is not None:
            raise InputError(f"no rolecall log at {log_url}")
        return None
    return url


@report_group.command("verify")
@click.argument("report_path", metavar="REPORT", type=click.Path(dir_okay=False))
@db_option
@click.option(
    "--log",
    "log_url",
    envvar="ROLECALL_LOG",
    show_envvar=True,
    help="The log to recompute from [default: the report's own log, when it exists].",
)
@json_option
def verify_command(report_path: str, db_path: str, log_url: str | None, as_json: bool) -> None:
    """Recompute a report (JSON or HTML) from the log and say whether it still holds.

    Checks the store against the digest the report carries (history up to it unchanged),
    rebuilds the log prefix the report names (its positions) and computes the report
    again: exit 0 when it holds, 1 when not, with what changed (sessions added, removed,
    ended differently).

    \b
    Examples:
      rolecall report verify q1.html
      rolecall report verify report.json --log file:./data/log --json
    """
    from pipeline.log import open_log
    from pipeline.reports import check_report, load_report

    report = load_report(report_path)
    url = _log_for_verify(log_url, report)
    now = datetime.now(UTC)
    if url is None:
        result = check_report(report, db_path, None, now=now)
    else:
        with open_log(url, create=False) as event_log:
            result = check_report(report, db_path, event_log, now=now)
    if as_json:
        emit_json(result.as_json())
    else:
        for line in result.lines():
            out().print(line, markup=False)
    if not result.holds:
        sys.exit(1)


@report_group.command("diff")
@click.argument("reports", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--from", "period_from", type=TIME, help="The period's start (with --as-known-at).")
@click.option("--to", "period_to", type=TIME, help="The period's end (with --as-known-at).")
@_privilege_options
@db_option
@click.option(
    "--as-known-at",
    "known",
    type=TIME,
    multiple=True,
    help="A moment to compare (twice: K1 then K2; once: K against the store now).",
)
@click.option(
    "--log",
    "log_url",
    default=DEFAULT_LOG_URL,
    envvar="ROLECALL_LOG",
    show_default=True,
    show_envvar=True,
    help="The event log --as-known-at reads.",
)
@json_option
def diff_command(
    reports: tuple[str, ...],
    period_from: datetime | None,
    period_to: datetime | None,
    action: str | None,
    resource: str | None,
    policy_arn: str | None,
    db_path: str,
    known: tuple[datetime, ...],
    log_url: str,
    as_json: bool,
) -> None:
    """What was learned between two moments: sessions added, removed, ended differently.

    Either two --as-known-at moments (or one, against the store now) with a period and a
    privilege, or two report files (JSON or HTML) of the same period.

    \b
    Examples:
      rolecall report diff --from 2026-01-05 --to 2026-01-12 \\
        --as-known-at 2026-01-12T00:00:00Z --as-known-at 2026-02-01T00:00:00Z
      rolecall report diff old.json new.json --json
    """
    from pipeline.reports import diff_reports, load_report
    from pipeline.timeutil import iso_z

    if reports:
        if len(reports) != 2 or known:
            raise click.UsageError("give two report files, or --as-known-at (not both)")
        before, after = (load_report(p) for p in reports)
        names = reports[0], reports[1]
        if (before.period, before.privilege) != (after.period, after.privilege):
            raise click.UsageError(
                "the two reports cover different periods or privileges: nothing to compare"
            )
    else:
        if not known or len(known) > 2:
            raise click.UsageError("give --as-known-at once or twice (or two report files)")
        if period_from is None or period_to is None:
            raise click.UsageError("--from and --to are required with --as-known-at")
        privilege = _privilege(action, resource, policy_arn)
        period = (period_from, period_to)
        command = _command_line()
        before = build_report(db_path, log_url, known[0], period, privilege, command)
        later = known[1] if len(known) == 2 else None
        after = build_report(db_path, log_url, later, period, privilege, command)
        names = (
            f"as known at {iso_z(known[0])}",
            f"as known at {iso_z(later)}" if later else "the store now",
        )
    result = diff_reports(before, after, names=names)
    if as_json:
        emit_json(result.as_json())
        return
    console = out()
    console.print(
        f"{names[0]} -> {names[1]}: {len(result.added)} session(s) added, "
        f"{len(result.removed)} removed, {len(result.ended_differently)} ended differently, "
        f"{len(result.changed)} change(s)",
        markup=False,
    )
    for line in result.lines():
        console.print(line, markup=False)
