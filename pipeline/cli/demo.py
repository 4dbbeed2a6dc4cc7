"""`rolecall demo`: the main job on the embedded default, from nothing to an investigation.

The simulator and the query API are imported when the command runs."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import click

from pipeline.cli.cloudtrail import run_import
from pipeline.cli.common import TIME, heading, out
from pipeline.cli.dashboard import serve_dashboard
from pipeline.cli.investigate import chain_tree
from pipeline.cli.materialize import run_materialize
from pipeline.cli.produce import incidents_option, write_cloudtrail_simulation


@click.command("demo")
@click.option(
    "--data",
    "data_dir",
    default="./data",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the demo's log and database go (its log and database there are replaced).",
)
@click.option("--seed", default=7, show_default=True)
@click.option("--start", type=TIME, default="2026-01-05T00:00:00Z", show_default=True)
@click.option("--days", default=3, show_default=True, type=click.IntRange(1, 366))
@click.option("--no-serve", is_flag=True, help="Print the summary and exit (no dashboard).")
@incidents_option
def demo_command(
    data_dir: str, seed: int, start: datetime, days: int, no_serve: bool, incidents: bool
) -> None:
    """Simulate an organization as CloudTrail files, import and materialize them, print an
    investigation summary, and serve the dashboard (unless --no-serve).

    \b
    The simulated organization stages one case of each finding rule (a leaked instance
    key used from a laptop, root use, a CI role able to administer IAM, ...);
    --no-incidents simulates a normal week instead.

    \b
    Examples:
      rolecall demo --no-serve
      rolecall demo --no-serve --no-incidents
    """
    from pipeline.simulator import SimulationConfig
    from pipeline.timeutil import iso

    data = Path(data_dir)
    log_dir, db_path, trail = data / "log", data / "rolecall.duckdb", data / "cloudtrail"
    shutil.rmtree(log_dir, ignore_errors=True)
    shutil.rmtree(trail, ignore_errors=True)
    db_path.unlink(missing_ok=True)
    data.mkdir(parents=True, exist_ok=True)

    config = SimulationConfig(start=start, days=days, seed=seed, incidents=incidents)
    t0 = time.perf_counter()
    writer = write_cloudtrail_simulation(config, str(trail))
    out().print(
        f"simulated {writer.records:,} CloudTrail records in {writer.files:,} files "
        f"(seed {seed}, {days} days from {iso(start)}) in {time.perf_counter() - t0:.1f} s "
        f"-> {trail}"
    )
    summary = run_import([str(trail)], f"file:{log_dir}")
    out().print(
        f"imported {summary.records_read:,} records in {summary.seconds:.1f} s "
        f"({summary.rate:,.0f}/s): {summary.events_total:,} events -> {log_dir}"
    )
    stats = run_materialize(f"file:{log_dir}", str(db_path))
    size = db_path.stat().st_size / 1e6
    out().print(
        f"materialized {stats.applied:,} events in {stats.seconds:.1f} s "
        f"({stats.rate:,.0f}/s) -> {db_path} ({size:.1f} MB)"
    )
    print_summary(str(db_path))
    print_findings(str(db_path), served=not no_serve)
    print_report(str(db_path), f"file:{log_dir}", data / "privileged-access.html")
    if not no_serve:
        out().print()
        serve_dashboard(str(db_path), log_url=f"file:{log_dir}")


def print_summary(db_path: str) -> None:
    from pipeline.queries import ADMIN_POLICY_ARN, Queries, Trace
    from pipeline.timeutil import iso

    with Queries.open(db_path) as q:
        c = q.counts()
        span = q.time_range()
        out().print()
        heading("Investigation summary")
        if span:
            out().print(f"History: {iso(span[0])} -> {iso(span[1])}")
        out().print(
            f"Sessions: {c['sessions']:,} over {c['roles']} roles; "
            f"{c['actions']:,} recorded actions ({c['denied_actions']} denied); "
            f"{c['revocations']} revocation(s); {c['policy_changes']} policy changes; "
            f"{c['dead_letters']} dead letters"
        )
        # Standing grants first: the most privileged role is the one that always had it.
        grants = sorted(
            q.grant_intervals(ADMIN_POLICY_ARN),
            key=lambda g: (g.removed_at is not None, g.granted_at, g.role_arn),
        )
        for grant in grants:
            holders = q.holders(grant.role_arn, start=grant.granted_at, end=grant.removed_at)
            until = iso(grant.removed_at) if grant.removed_at else "the end of the history"
            out().print(
                f"\n[bold]{grant.role_arn}[/] had AdministratorAccess from "
                f"{iso(grant.granted_at)} to {until}; held then on behalf of "
                f"{len(holders)} origin(s):"
            )
            for h in holders[:8]:
                out().print(
                    f"  {h['origin_label']}: {h['sessions']} session(s), "
                    f"{iso(h['first'])} -> {iso(h['last'])}"
                )
            if len(holders) > 8:
                out().print(f"  ... and {len(holders) - 8} more")
        deepest = q.deepest_session()
        if deepest is not None and deepest.access_key_ids:
            key = deepest.access_key_ids[0]
            out().print(f"\nExample chain: access key [bold]{key}[/] traced to its origin")
            trace = q.trace(key)
            if isinstance(trace, Trace):
                out().print(chain_tree(trace.chain))
            out().print(f"(rolecall trace {key} --db {db_path})")


def print_report(db_path: str, log_url: str, path: Path) -> None:
    """The privileged-access report of the whole history, written as HTML: where it is."""
    from datetime import UTC, timedelta

    from pipeline.queries import Queries
    from pipeline.reports import Period, Privilege, privileged_report
    from pipeline.reports.html import render_html
    from pipeline.timeutil import iso_z

    with Queries.open(db_path) as q:
        span = q.time_range()
        if span is None:
            return
        start = span[0].replace(hour=0, minute=0, second=0, microsecond=0)
        end = span[1].replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        command = (
            f"rolecall report privileged --from {iso_z(start)} --to {iso_z(end)} "
            f"--db {db_path} --log {log_url} --html {path}"
        )
        report = privileged_report(
            q,
            Period(start, end),
            Privilege(),
            command=command,
            generated_at=datetime.now(UTC),
            log_url=log_url,
        )
    path.write_text(render_html(report), encoding="utf-8")
    out().print(
        f"\n[bold]Privileged access[/]: {len(report.sessions)} sessions able to administer "
        f"IAM, from {len(report.origins)} origins; report written to {path}"
    )
    out().print(f"(rolecall report verify {path} --db {db_path})")


def print_findings(db_path: str, *, served: bool) -> None:
    """How many findings each rule raised, and where to see them."""
    from pipeline.findings import RULES
    from pipeline.queries import Queries

    with Queries.open(db_path) as q:
        found = q.findings()
    counts = Counter(f.rule for f in found)
    out().print(f"\n[bold]Findings[/]: {len(found)} raised")
    width = max(len(rule) for rule in RULES)
    for rule in RULES:
        out().print(f"  {rule:<{width}}  {counts[rule]}")
    where = (
        "the dashboard's Findings view (below, at /findings)"
        if served
        else f"rolecall dashboard --db {db_path}, then its Findings view (/findings)"
    )
    out().print(f"(rolecall findings --db {db_path}; {where})")
