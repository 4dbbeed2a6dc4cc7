"""Shared steps of the Kafka tests: expected state, subprocess materializers, progress."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from pipeline.events import Event
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.queries import Queries
from pipeline.sessions import Selection
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import STATE_TABLES, Store
from pipeline.store.schema import CROSS_FILE_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
State = dict[str, list[tuple[object, ...]]]


@cache
def simulated(events: int) -> tuple[Event, ...]:
    config = SimulationConfig(start=datetime(2026, 1, 5, tzinfo=UTC), days=3, events=events)
    return tuple(simulate(config))


def state_of_con(con: duckdb.DuckDBPyConnection, *, per_file: bool = False) -> State:
    """Every state table as sorted rows (like tests.conftest.state_of, for any connection).

    `per_file`: without the session columns a directory store's files complete only when
    read (they are compared through the read model instead, by `resolved`).
    """
    skipped = f" EXCLUDE ({', '.join(CROSS_FILE_COLUMNS)})" if per_file else ""
    return {
        table: sorted(
            con.execute(
                f"SELECT *{skipped if table == 'sessions' else ''} FROM {table}"  # noqa: S608
            ).fetchall(),
            key=repr,
        )
        for table in STATE_TABLES
    }


def resolved(q: Queries) -> list[tuple[object, ...]]:
    """Every session's chain, origin and end as the read model answers them."""
    return sorted(
        (
            s.session_id,
            s.parent_session_id,
            s.depth,
            s.origin_arn,
            s.origin_resolved,
            s.ends_at,
            s.end_reason,
        )
        for s in q.sessions.all(Selection())
    )


@cache
def embedded_state(events: int, *, per_file: bool = False) -> State:
    """The state the embedded log gives for the same simulated events: what Kafka must match.

    With `per_file`, the read model's chains, origins and ends come under "resolved".
    """
    with tempfile.TemporaryDirectory(prefix="rolecall-embedded-") as scratch:
        log = FileLog(Path(scratch) / "log", partitions=4, fsync=False)
        log.append(list(simulated(events)))
        with Store(Path(scratch) / "embedded.duckdb") as store:
            materialize(log, store, batch_size=20_000)
            state = state_of_con(store.con, per_file=per_file)
            if per_file:
                state["resolved"] = resolved(Queries(store.con))
        log.close()
    return state


def committed(bootstrap: str, group: str) -> int:
    """How many records the group has committed (the lag-monitoring offsets); -1 while unknown.

    Just after a broker restart the group coordinator is still being elected or loaded
    (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS): a retriable state, so the caller's
    wait goes on rather than failing.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=10_000)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    except KafkaError as error:
        if not error.retriable:
            raise
        return -1
    finally:
        admin.close()
    return sum(max(0, int(o.offset)) for o in offsets.values())


def members(bootstrap: str, group: str) -> int:
    """How many members the consumer group has right now."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=10_000)
    try:
        described = admin.describe_groups([group]).get(group, {})
    finally:
        admin.close()
    return len(described.get("members", []))


def records_read(stderr: str) -> int:
    """The record count a materialize run printed."""
    return int(stderr.split("materialized ")[1].split(" records")[0].replace(",", ""))


def spawn_materialize(
    url: str, db: Path | str, group: str, *, follow: bool = False, batch_size: int = 500
) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "pipeline", "materialize", "--log", url, "--db", str(db)]
    args += ["--group", group, "--batch-size", str(batch_size)]
    if follow:
        args.append("--follow")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_until(what: str, check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def stop_quietly(proc: subprocess.Popen[str]) -> None:
    """After a failure: kill a materializer that is still running and close its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> str:
    """Wait for a materializer to exit cleanly; its stderr."""
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"materializer did not finish:\n{err}") from None
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{err}"
    return err
