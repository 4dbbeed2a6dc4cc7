"""`rolecall import-cloudtrail`: real CloudTrail logs onto the event log.

The importer, the log and the producer are imported when the command runs; the formats
below are the reader's, held equal to them by a test.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from pipeline.cli.common import emit_json, fail, json_option, log_option, out, stderr
from pipeline.errors import InputError

if TYPE_CHECKING:
    from pipeline.cloudtrail import ImportSummary
    from pipeline.cloudtrail.importer import Progress as OnProgress

AUTO = "auto"  # pipeline.cloudtrail.reader.AUTO
FORMATS = (AUTO, "json", "jsonl")  # pipeline.cloudtrail.reader.FORMATS

_LOST_SHOWN = 10  # damaged records printed one by one; --json lists more


@click.command("import-cloudtrail")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=AUTO,
    show_default=True,
    help="json: CloudTrail files, arrays, documents one after another; jsonl: one record "
    "a line; auto: decided from the first line. Gzip is always recognized.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes that read and map files (default: the number of cores). The "
    "log gets the same events in the same order whatever the number.",
)
@log_option
@json_option
def import_cloudtrail_command(
    paths: tuple[str, ...], fmt: str, jobs: int | None, log_url: str, as_json: bool
) -> None:
    """Import CloudTrail logs: files, .json.gz archives, JSON Lines, S3 trees, or - for stdin.

    Sessions, chains, console switches, policy changes and the calls made with temporary
    keys go onto the log; run `rolecall materialize` next. Importing again changes nothing.

    \b
    Examples:
      rolecall import-cloudtrail ./AWSLogs --log file:./data/log
      rolecall import-cloudtrail trail.json.gz logstash-export.jsonl --json
      rolecall import-cloudtrail ./AWSLogs --jobs 1      # one process
      zcat *.json.gz | rolecall import-cloudtrail -
      cat logstash-export.ndjson | rolecall import-cloudtrail --format jsonl -
    """
    from pipeline.cloudtrail.reader import check_paths

    try:
        check_paths(paths)  # before the log is opened: a typo imports nothing
    except InputError as exc:
        fail(escape(str(exc)))
    summary = run_import(list(paths), log_url, fmt, jobs=jobs)
    if as_json:
        emit_json(summary.to_dict())
    else:
        print_import_summary(summary)


def run_import(
    paths: Sequence[str], log_url: str, fmt: str = AUTO, *, jobs: int | None = None
) -> ImportSummary:
    from pipeline.cloudtrail import import_cloudtrail
    from pipeline.cloudtrail.importer import worker_count
    from pipeline.log import open_log
    from pipeline.producer import Producer

    with (
        open_log(log_url) as event_log,
        Producer(event_log, batch_size=5000) as producer,
        _progress(paths) as on_progress,
    ):
        return import_cloudtrail(
            paths, producer, on_progress=on_progress, fmt=fmt, jobs=jobs or worker_count()
        )


@contextmanager
def _progress(paths: Sequence[str]) -> Iterator[OnProgress | None]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from pipeline.cloudtrail.reader import Source, sources

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
    out().print(
        f"imported {d['files_read']:,} files, {d['records_read']:,} records in "
        f"{d['seconds']:.1f} s ({d['records_per_second']:,.0f}/s): {d['events_emitted']:,} events "
        f"from {d['records_mapped']:,} records, {d['records_skipped']:,} skipped, "
        f"{d['inferred_sessions']:,} sessions inferred from their calls"
    )
    for kind, count in d["events_by_type"].items():
        out().print(f"  {kind}: {count:,}")
    if d["skipped_by_reason"]:
        out().print("skipped:")
        for reason, count in d["skipped_by_reason"].items():
            out().print(f"  {escape(reason)}: {count:,}")
        top = list(d["not_role_related_by_event"].items())[:8]
        if top:
            out().print("  (not role-related: " + ", ".join(f"{n} {c}" for n, c in top) + ")")
    # File names are the user's: escaped, so that brackets in them are not markup.
    for lost in d["lost_records"][:_LOST_SHOWN]:
        where = f"line {lost['line']:,}" if "line" in lost else f"record {lost['record']:,}"
        stderr.print(
            f"[yellow]lost[/] {escape(lost['file'])} {where} "
            f"(near byte {lost['byte'] or 0:,}): {escape(lost['reason'])}"
        )
    if d["records_lost"] > _LOST_SHOWN:
        stderr.print(f"[yellow]lost[/] {d['records_lost'] - _LOST_SHOWN:,} more (see --json)")
    for item in d["corrupt_files"]:
        stderr.print(f"[yellow]corrupt file[/] {escape(item['file'])}: {escape(item['reason'])}")
    for item in d["skipped_inputs"]:
        stderr.print(f"[yellow]not read[/] {escape(item['path'])}: {escape(item['reason'])}")
