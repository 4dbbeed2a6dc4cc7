"""`rolecall findings`: the suspicious moments, each with its evidence, as a thin layer."""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.table import Table

from pipeline.cli.common import TIME, db_option, emit_json, stdout
from pipeline.findings import RULES, SEVERITIES, FindingFilter
from pipeline.findings.model import Severity
from pipeline.findings.ocsf import detection_finding
from pipeline.queries import Queries
from pipeline.timeutil import iso


@click.command("findings")
@click.option(
    "--from", "start", type=TIME, help="Only findings whose last evidence is at or after T."
)
@click.option("--to", "end", type=TIME, help="Only findings whose first evidence is before T.")
@click.option("--rule", help=f"Only this rule: {', '.join(RULES)}.")
@click.option("--severity", help=f"Only this severity: {', '.join(SEVERITIES)}.")
@click.option("--account", "account_id", help="Only this 12-digit account.")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (same as --format json).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "ocsf"]),
    default="table",
    show_default=True,
    help="ocsf: a JSON list of OCSF Detection Finding objects (class_uid 2004).",
)
@db_option
def findings_command(
    start: datetime | None,
    end: datetime | None,
    rule: str | None,
    severity: str | None,
    account_id: str | None,
    limit: int | None,
    as_json: bool,
    fmt: str,
    db_path: str,
) -> None:
    """What looks wrong: findings derived from the stored sessions, calls and policies,
    newest first, each with the event ids it rests on (`ct:<eventID>` for CloudTrail).

    Rules and their thresholds are in the README ("Findings"); a store rebuilt from the
    log gives the same findings with the same ids.

    \b
    Examples:
      rolecall findings
      rolecall findings --rule denied-burst --from 2026-01-05T00:00:00Z
      rolecall findings --severity high --account 111122223333 --json
      rolecall findings --format ocsf > findings.ocsf.json
    """
    flt = FindingFilter(
        start=start,
        end=end,
        rule=rule,
        severity=_severity(severity),
        account_id=account_id,
    )
    with Queries.open(db_path) as q:
        found = q.findings(flt, limit=limit)
    if fmt == "ocsf":
        click.echo(json.dumps([detection_finding(f) for f in found], indent=2))
        return
    if as_json or fmt == "json":
        emit_json([f.as_json() for f in found])
        return
    table = Table(title=f"{len(found)} finding(s), newest first", title_justify="left")
    for col in (
        "last",
        "rule",
        "severity",
        "account",
        "session / principal",
        "origin",
        "summary",
        "evidence",
    ):
        table.add_column(col, overflow="fold")
    for f in found:
        more = (
            f" (+{f.evidence_count - len(f.evidence)})"
            if f.evidence_count > len(f.evidence)
            else ""
        )
        table.add_row(
            str(iso(f.last_at)),
            f.rule,
            f.severity,
            f.account_id or "unknown",
            f.session_id or f.principal_arn or "unknown",
            f.origin_label,
            f.summary,
            ", ".join(f.evidence[:3]) + (" ..." if len(f.evidence) > 3 else "") + more,
        )
    stdout.print(table)


def _severity(value: str | None) -> Severity | None:
    if value is None:
        return None
    for s in SEVERITIES:
        if s == value:
            return s
    raise click.BadParameter(
        f"unknown severity {value!r}; the severities are: {', '.join(SEVERITIES)}",
        param_hint="--severity",
    )
