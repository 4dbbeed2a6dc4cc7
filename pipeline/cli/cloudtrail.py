"""`rolecall import-cloudtrail`: real CloudTrail logs onto the event log."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.cli.common import emit_json, json_option, log_option, stderr, stdout
from pipeline.cloudtrail import ImportSummary, import_cloudtrail
from pipeline.cloudtrail.importer import Progress as OnProgress
from pipeline.cloudtrail.reader import Source, sources
from pipeline.log import open_log
from pipeline.producer import Producer


@click.command("import-cloudtrail")
@click.argument("paths", nargs=-1, required=True)
@log_option
@json_option
def import_cloudtrail_command(paths: tuple[str, ...], log_url: str, as_json: bool) -> None:
    """Import CloudTrail logs: files, .json.gz archives, JSON Lines, S3 trees, or - for stdin.

    Sessions, chains, console switches, policy changes and the calls made with temporary
    keys go onto the log; run `rolecall materialize` next. Importing again changes nothing.

    \b
    Examples:
      rolecall import-cloudtrail ./AWSLogs --log file:./data/log
      rolecall import-cloudtrail trail.json.gz logstash-export.jsonl --json
      zcat *.json.gz | rolecall import-cloudtrail -
    """
    summary = run_import(list(paths), log_url)
    if as_json:
        emit_json(summary.to_dict())
    else:
        print_import_summary(summary)


def run_import(paths: Sequence[str], log_url: str) -> ImportSummary:
    with (
        open_log(log_url) as event_log,
        Producer(event_log, batch_size=5000) as producer,
        _progress(paths) as on_progress,
    ):
        return import_cloudtrail(paths, producer, on_progress=on_progress)


@contextmanager
def _progress(paths: Sequence[str]) -> Iterator[OnProgress | None]:
    if not stderr.is_terminal:
        yield None
        return
    total = len(sources(paths))
    columns = (
        TextColumn("[bold]importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files · {task.fields[records]:,} records · {task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("import", total=total, records=0, rate=0.0)

        def update(summary: ImportSummary, _source: Source | None) -> None:
            bar.update(
                task,
                completed=summary.files_read,
                records=summary.records_read,
                rate=summary.rate,
            )

        yield update


def print_import_summary(summary: ImportSummary) -> None:
    d = summary.to_dict()
    stdout.print(
        f"imported {d['files_read']:,} files, {d['records_read']:,} records in "
        f"{d['seconds']:.1f} s ({d['records_per_second']:,.0f}/s): {d['events_emitted']:,} events "
        f"from {d['records_mapped']:,} records, {d['records_skipped']:,} skipped, "
        f"{d['inferred_sessions']:,} sessions inferred from their calls"
    )
    for kind, count in d["events_by_type"].items():
        stdout.print(f"  {kind}: {count:,}")
    if d["skipped_by_reason"]:
        stdout.print("skipped:")
        for reason, count in d["skipped_by_reason"].items():
            stdout.print(f"  {reason}: {count:,}")
        top = list(d["not_role_related_by_event"].items())[:8]
        if top:
            stdout.print("  (not role-related: " + ", ".join(f"{n} {c}" for n, c in top) + ")")
    for item in d["corrupt_files"]:
        stderr.print(f"[yellow]corrupt file[/] {item['file']}: {item['reason']}")
