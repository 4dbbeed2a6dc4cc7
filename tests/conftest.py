from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from pipeline.events import Event
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.queries import Queries
from pipeline.store import STATE_TABLES, Store


@pytest.fixture
def file_log(tmp_path: Path) -> Iterator[FileLog]:
    log = FileLog(tmp_path / "log", partitions=4, fsync=False)
    yield log
    log.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state.duckdb")
    yield s
    s.close()


@pytest.fixture
def materialized(tmp_path: Path) -> Callable[[Sequence[Event]], Queries]:
    """Put events on a fresh log, materialize them, and return the query API over it."""
    counter = iter(range(10_000))

    def build(events: Sequence[Event]) -> Queries:
        n = next(counter)
        log = FileLog(tmp_path / f"log{n}", partitions=4, fsync=False)
        log.append(list(events))
        with Store(tmp_path / f"db{n}.duckdb") as s:
            materialize(log, s)
        log.close()
        return Queries.open(tmp_path / f"db{n}.duckdb")

    return build


def state_of(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every state table as sorted rows: equal stores compare equal."""
    out = {}
    for table in STATE_TABLES:
        rows = store.con.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
        out[table] = sorted(rows, key=repr)
    return out


def materialized_state(
    events: list[Event], path: Path, *, batch_size: int = 5000, partitions: int = 4
) -> dict[str, list[tuple[object, ...]]]:
    """The state (`state_of`) of a store materialized from a new file log of `events`,
    both under `path`."""
    log = FileLog(path / "log", partitions=partitions, fsync=False)
    log.append(events)
    with Store(path / "db.duckdb") as store:
        materialize(log, store, batch_size=batch_size)
        state = state_of(store)
    log.close()
    return state
