"""`rolecall materialize`: turn the log into DuckDB state.

The log, the materializer and the store are imported when the command runs (its `--help`
stays quick); the defaults below are the materializer's, held equal to them by a test.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import click

from pipeline.cli.common import db_option, log_option, stderr
from pipeline.cli.failures import describe, is_storage_failure
from pipeline.errors import StoreError

if TYPE_CHECKING:
    from pipeline.materializer import MaterializeStats
    from pipeline.store import Store
    from pipeline.store.partitioned import PartitionedStore

DEFAULT_BATCH_SIZE = 50_000  # pipeline.materializer.DEFAULT_BATCH_SIZE
DEFAULT_GROUP = "rolecall-materializer"  # pipeline.materializer.DEFAULT_GROUP


@click.command("materialize")
@log_option
@db_option
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Records per transaction.",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep consuming until interrupted (SIGINT/SIGTERM stop after the last committed batch).",
)
@click.option(
    "--group",
    default=DEFAULT_GROUP,
    show_default=True,
    envvar="ROLECALL_GROUP",
    show_envvar=True,
    help="Kafka consumer group: materializers in one group share the topic's partitions.",
)
def materialize_command(
    log_url: str, db_path: str, batch_size: int, follow: bool, group: str
) -> None:
    """Materialize the log into the DuckDB database, exactly once.

    Resumes from the log positions stored in the database: running it again applies only
    what is new, and a crash loses nothing.

    \b
    Examples:
      rolecall materialize --log file:./data/log --db ./data/rolecall.duckdb
      rolecall materialize --log kafka://127.0.0.1:9092/rolecall.events --follow
      rolecall materialize --log kafka://127.0.0.1:9092/rolecall.events --db ./data/parts/ --follow
      rolecall materialize --log 'kafka://127.0.0.1:9092/rolecall.events?client=kafka-python'

    Kafka is read through confluent-kafka (librdkafka); ?client=kafka-python reads it
    through kafka-python instead: the same records, positions and store.

    A --db ending in / (or an existing directory) keeps one DuckDB file per partition,
    so several materializers can share a consumer group; queries read them all.
    """
    try:
        stats = run_materialize(log_url, db_path, batch_size=batch_size, follow=follow, group=group)
    except Exception as exc:
        if not is_storage_failure(exc):
            raise
        # Each batch commits with its positions: what failed was rolled back, and a rerun
        # resumes from the last committed batch.
        why = describe(exc)
        resume = " (nothing committed is lost: run it again)" if why.startswith("no space") else ""
        raise StoreError(f"materializing into {db_path} stopped: {why}{resume}") from exc
    stderr.print(
        f"materialized {stats.read:,} records in {stats.seconds:.1f} s "
        f"({stats.rate:,.0f}/s): {stats.applied:,} new events, {stats.duplicates:,} duplicates, "
        f"{stats.conflicts:,} conflicts, {stats.dead_letters:,} dead letters -> {db_path}"
    )


def run_materialize(
    log_url: str,
    db_path: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    follow: bool = False,
    group: str = DEFAULT_GROUP,
) -> MaterializeStats:
    from pipeline.log import open_log
    from pipeline.materializer import materialize

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    if follow and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, request_stop)
    try:
        with (
            open_log(log_url, create=False) as event_log,
            _open_store(db_path) as store,
        ):
            show = stderr.is_terminal and not follow

            def progress(stats: MaterializeStats) -> None:
                if show:
                    stderr.print(f"  {stats.read:,} records ({stats.rate:,.0f}/s)", end="\r")

            return materialize(
                event_log,
                store,
                batch_size=batch_size,
                follow=follow,
                stop=stop,
                on_batch=progress,
                group=group,
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _open_store(db_path: str) -> Store | PartitionedStore:
    """A file (one writer), or a directory of per-partition files (several writers)."""
    from pipeline.store import Store
    from pipeline.store.directory import is_directory_store
    from pipeline.store.partitioned import PartitionedStore

    return PartitionedStore(db_path) if is_directory_store(db_path) else Store(db_path)
