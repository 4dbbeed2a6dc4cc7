"""Suspicious moments found on the record, each with its evidence.

A thin layer over `Queries.findings`; the library is loaded when the command runs, so
`rolecall findings --help` stays quick.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from pipeline.cli.common import TIME, csv_option, db_option, emit_json
from pipeline.cli.listing import Column, Listing, emit_csv, show

if TYPE_CHECKING:
    from pipeline.findings import Finding
    from pipeline.findings.model import Severity

# Repeated here so that --help loads nothing heavy; a test holds them equal to the library's.
RULE_NAMES = (
    "instance-credentials-elsewhere",
    "used-after-end",
    "key-many-networks",
    "denied-burst",
    "role-enumeration",
    "root-used",
    "console-without-mfa",
    "machine-iam-admin",
)
SEVERITY_NAMES = ("high", "medium", "low")

FINDING_COLUMNS = (
    Column("last evidence"),
    Column("rule", identifier=True),
    Column("severity"),
    Column("account", identifier=True),
    Column("session / principal", identifier=True),
    Column("origin"),
    Column("summary"),
    Column("evidence"),
)


@click.command("findings")
@click.option(
    "--from", "start", type=TIME, help="Only findings whose last evidence is at or after T."
)
@click.option("--to", "end", type=TIME, help="Only findings whose first evidence is before T.")
@click.option("--rule", help=f"Only this rule: {', '.join(RULE_NAMES)}.")
@click.option("--severity", help=f"Only this severity: {', '.join(SEVERITY_NAMES)}.")
@click.option("--account", "account_id", help="Only this 12-digit account.")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (same as --format json).")
@csv_option
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
    as_csv: bool,
    fmt: str,
    db_path: str,
) -> None:
    """Suspicious moments found on the record, each with its evidence.

    Findings are derived from the stored sessions, calls and policies, newest first, each
    with the event ids it rests on (`ct:<eventID>` for CloudTrail).

    Rules and their thresholds are in the README ("Findings"); a store rebuilt from the
    log gives the same findings with the same ids.

    \b
    Examples:
      rolecall findings
      rolecall findings --rule denied-burst --from 2026-01-05T00:00:00Z
      rolecall findings --severity high --account 111122223333 --json
      rolecall findings --format ocsf > findings.ocsf.json
      rolecall findings --csv > findings.csv
    """
    import json

    from pipeline.findings import FindingFilter
    from pipeline.findings.ocsf import detection_finding
    from pipeline.queries import Queries

    chosen = {"--json"} if as_json else set()
    chosen |= {"--csv"} if as_csv else set()
    chosen |= {f"--format {fmt}"} if fmt != "table" else set()
    if len(chosen - {"--json", "--format json"}) + bool(chosen & {"--json", "--format json"}) > 1:
        raise click.UsageError(f"{' and '.join(sorted(chosen))} exclude each other: choose one")
    flt = FindingFilter(
        start=start,
        end=end,
        rule=rule,
        severity=_severity(severity),
        account_id=account_id,
    )
    with Queries.open(db_path) as q:
        found = q.findings(flt, limit=limit)
        waiting = q.findings_pending()
    if waiting:  # on stderr: the listing (and any --json or CSV) stays as it was
        click.echo(
            f"note: findings not yet recomputed for {waiting} recently stored session(s), "
            "key(s) or principal(s): a materializer is catching up, or stopped before it "
            "settled them (the next `rolecall materialize` does)",
            err=True,
        )
    if fmt == "ocsf":
        click.echo(json.dumps([detection_finding(f) for f in found], indent=2))
        return
    if as_json or fmt == "json":
        emit_json([f.as_json() for f in found])
        return
    listing = findings_listing(found)
    if as_csv:
        emit_csv(listing)
    else:
        show(listing)


def findings_listing(found: list[Finding]) -> Listing:
    """Findings as rows: what is not known says so."""
    from pipeline.timeutil import iso

    listing = Listing(f"{len(found)} finding(s), newest first", FINDING_COLUMNS)
    for f in found:
        shown = " ".join(f.evidence[:3])
        rest = f.evidence_count - min(3, len(f.evidence))
        listing.add(
            iso(f.last_at),
            f.rule,
            f.severity,
            f.account_id,
            f.session_id or f.principal_arn,
            f.origin_label,
            f.summary,
            shown + (f" (+{rest} more)" if rest > 0 else ""),
        )
    return listing


def _severity(value: str | None) -> Severity | None:
    from pipeline.findings import SEVERITIES

    if value is None:
        return None
    for s in SEVERITIES:
        if s == value:
            return s
    raise click.BadParameter(
        f"unknown severity {value!r}; the severities are: {', '.join(SEVERITY_NAMES)}",
        param_hint="--severity",
    )
