"""`policy-eval` and `import-iam`: the evaluator on its own, and IAM snapshots onto the log.

The evaluator, the log and the store are imported when a command runs."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import UTC, datetime
from typing import TextIO

import click

from pipeline.cli.common import TIME, log_option, stderr
from pipeline.errors import InputError


@click.command("policy-eval")
@click.option(
    "--cases",
    "cases",
    required=True,
    type=click.File("r", encoding="utf-8"),
    help="JSON Lines of requests ('-' for stdin).",
)
def policy_eval_command(cases: TextIO) -> None:
    """Evaluate requests given as JSON Lines: one {"effect", "reason"} line out per case, in order.

    Each line holds action, resource, identity_policies and optionally session_policies,
    boundary, context, resource_policy, session_arn (policies as IAM JSON documents). A
    line that cannot be evaluated gives {"effect": "error", "reason": "line N: ..."}.

    \b
    Examples:
      rolecall policy-eval --cases tests/policy/cases.jsonl
      echo '{"action":"s3:GetObject","resource":"*","identity_policies":[]}' \\
        | rolecall policy-eval --cases -
    """
    from pipeline.policy import evaluate_cases

    for result in evaluate_cases(cases):
        click.echo(json.dumps(result))


@click.command("import-iam")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--as-of",
    "as_of",
    type=TIME,
    default=None,
    help="When the snapshot was taken (default: now); the same time again adds nothing.",
)
@click.option("--account", "account_id", default=None, help="Account id for ARNs that lack one.")
@click.option(
    "--db",
    "db_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also close what this database's history holds at --as-of but the file no longer "
    "lists (detached, deleted, removed).",
)
@log_option
def import_iam_command(
    file: str, as_of: datetime | None, account_id: str | None, db_path: str | None, log_url: str
) -> None:
    """Import `aws iam get-account-authorization-details` output as policy history.

    Roles, users, groups, managed policies with all their versions, inline policies,
    boundaries, trust policies, tags and group memberships become PolicyChanged events at
    the --as-of time. Event ids come from the content and the time: importing the same
    file at the same time again adds nothing.
    With --db, what the stored history holds at --as-of but the file no longer lists is
    closed at that time: a later snapshot is a complete statement of its account.

    \b
    Examples:
      aws iam get-account-authorization-details > iam.json
      rolecall import-iam iam.json --as-of 2026-01-05T00:00:00Z --log file:./data/log
      rolecall import-iam iam-feb.json --as-of 2026-02-01T00:00:00Z \\
        --db ./data/rolecall.duckdb
    """
    from pipeline.log import open_log
    from pipeline.permissions.iam_import import read_snapshot, snapshot_events
    from pipeline.permissions.in_force import HistoryAt
    from pipeline.permissions.reconcile import removals
    from pipeline.producer import Producer
    from pipeline.queries import Queries
    from pipeline.timeutil import iso

    if account_id is not None and not (account_id.isdigit() and len(account_id) == 12):
        raise InputError(f"--account must be a 12-digit account id, got {account_id!r}")
    when = as_of or datetime.now(UTC)
    snapshot = snapshot_events(read_snapshot(file), as_of=when, account_id=account_id)
    closed = []
    if db_path is not None:
        with closing(Queries.open(db_path)) as q:
            closed = removals(snapshot, HistoryAt(q.con, when))
    with open_log(log_url) as event_log, Producer(event_log) as producer:
        producer.emit_many(snapshot.events)
        producer.emit_many(closed)
        producer.flush()
    names = {
        "ROLE": "roles",
        "USER": "users",
        "GROUP": "groups",
        "MANAGED_POLICY": "managed policies",
    }
    targets = ", ".join(f"{n} {names[k]}" for k, n in snapshot.targets.items())
    stderr.print(
        f"imported {len(snapshot.events)} policy events ({targets or 'nothing'}) "
        f"as of {iso(when)} -> {log_url}"
        + (f"; {len(closed)} removals of items no longer listed" if db_path else "")
    )
    if as_of is None:
        stderr.print(f"re-import with --as-of {iso(when)} to add nothing twice")
