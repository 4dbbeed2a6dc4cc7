"""`rolecall pivot`: from one clue (an IAM user, an access key, a source IP, a role) to
its sessions, the keys used, its calls over time and its findings.

A thin layer over `Queries.pivot` (`pipeline/pivots.py`), the same answer the
dashboard's pivot pages show; the library loads when the command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pipeline.cli.common import csv_option, db_option, emit_json, heading, json_option, one_format
from pipeline.cli.listing import Column, Listing, emit_csv, out, show

if TYPE_CHECKING:
    from pipeline.pivots import Pivot

PIVOT_KINDS = ("user", "key", "ip", "role")  # pipeline.pivots.KINDS, kept here for --help
PIVOT_LISTS = ("sessions", "keys", "activity", "calls", "findings")


@click.command("pivot")
@click.argument("kind", type=click.Choice(PIVOT_KINDS))
@click.argument("value")
@db_option
@json_option
@csv_option
@click.option(
    "--list",
    "which",
    type=click.Choice(PIVOT_LISTS),
    default="sessions",
    show_default=True,
    help="With --csv: which list to print.",
)
def pivot_command(
    kind: str, value: str, db_path: str, as_json: bool, as_csv: bool, which: str
) -> None:
    """From one clue to what stands behind it: sessions, keys, calls over time, findings.

    KIND is user (an IAM user's ARN), key (an access key id, AKIA... or ASIA...), ip (a
    source address) or role (a role's ARN, with or without path, or its name). VALUE is
    the clue. Sessions are listed newest first (the first 200; the total is given),
    calls are counted per time bucket (allowed and denied), and findings are those about
    the clue's sessions or principal.

    \b
    Examples:
      rolecall pivot user arn:aws:iam::111122223333:user/alice
      rolecall pivot key AKIAEXAMPLEKEY000001 --json
      rolecall pivot ip 198.51.100.7 --csv --list keys
      rolecall pivot role OrgAdmin --csv --list activity
    """
    from pipeline.queries import Queries

    one_format(as_json, as_csv)
    with Queries.open(db_path) as q:
        found = q.pivot(kind, value)
    if as_json:
        emit_json(found)
        return
    if as_csv:
        emit_csv(listings(found)[which])
        return
    heading(
        f"{found.label}: {found.sessions_total} session(s), {found.actions_total} call(s) "
        f"({found.denied_total} denied), {len(found.findings)} finding(s)"
    )
    console = out()
    for name in ("sessions", "keys", "activity", "findings"):
        show(listings(found)[name], console)


def listings(p: Pivot) -> dict[str, Listing]:
    """Each of the pivot's lists as rows; unknowns in words."""
    from pipeline.cli.findings import findings_listing
    from pipeline.cli.investigate import actions_listing, sessions_listing
    from pipeline.timeutil import iso

    shown = f" (the newest {len(p.sessions)})" if p.sessions_total > len(p.sessions) else ""
    keys = Listing(
        f"{len(p.keys)} key(s) used",
        (
            Column("key", identifier=True),
            Column("session", identifier=True),
            Column("first call"),
            Column("last call"),
            Column("calls"),
            Column("denied"),
        ),
    )
    for k in p.keys:
        keys.add(
            k.access_key_id,
            k.session_id
            or ("none (long-term key)" if k.access_key_id.startswith("AKIA") else "unknown"),
            iso(k.first_at),
            iso(k.last_at),
            str(k.calls),
            str(k.denied),
        )
    activity = Listing(
        f"calls per {p.bucket_seconds // 60} min",
        (Column("from"), Column("allowed"), Column("denied")),
    )
    for b in p.activity:
        activity.add(iso(b.start), str(b.allowed), str(b.denied))
    return {
        "sessions": sessions_listing(p.sessions, f"{p.sessions_total} session(s){shown}"),
        "keys": keys,
        "activity": activity,
        "calls": actions_listing(p.actions, f"the newest {len(p.actions)} call(s)"),
        "findings": findings_listing(p.findings),
    }
