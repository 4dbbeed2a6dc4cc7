"""The materializer's pipeline: a batch is polled and decoded while the one before is
applied, and nothing polled is lost or applied late (a rebalance, a stop)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pipeline.log import FileLog
from pipeline.log.base import LogConsumer, LogItem, PartitionsReleased, PositionsProvider
from pipeline.log.filelog import FileLogConsumer
from pipeline.materializer import MaterializeStats, materialize
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import ApplyResult, Batch, Store
from pipeline.timeutil import parse_time
from tests.conftest import materialized_state, state_of

SIM = list(simulate(SimulationConfig(start=parse_time("2026-01-05"), days=2, seed=5)))
BATCH = 300


class _RebalancingConsumer(LogConsumer):
    """A file log's consumer that, before its `at`-th poll, goes through an eager
    rebalance (every partition revoked, then assigned again) as a Kafka consumer does
    inside a poll, and notes what the store held when the partitions were released."""

    def __init__(self, inner: FileLogConsumer, store: Store, at: int) -> None:
        self.inner, self.store, self.at = inner, store, at
        self.polls = self.returned = 0
        self.at_release: tuple[int, int] | None = None  # (returned by polls, stored)

    def start(
        self, positions: PositionsProvider, released: PartitionsReleased | None = None
    ) -> None:
        self._positions, self._released = positions, released
        self.inner.start(positions, released)

    def poll(self, max_records: int, timeout: float = 0.0) -> list[LogItem]:
        self.polls += 1
        if self.polls == self.at and self._released is not None:
            parts = list(range(4))
            self._released(parts)
            (stored,) = self.store.con.execute("SELECT count(*) FROM events").fetchone() or (0,)
            self.at_release = (self.returned, int(stored))
            self._positions(parts)
        items = self.inner.poll(max_records, timeout)
        self.returned += len(items)
        return items

    def caught_up(self) -> bool:
        return self.inner.caught_up()

    def close(self) -> None:
        self.inner.close()


class _Log(FileLog):
    """A file log handing out the consumer a test gives it."""

    given: LogConsumer | None = None

    def consumer(self, *, group: str = "rolecall-materializer") -> FileLogConsumer:
        assert self.given is not None
        return self.given  # type: ignore[return-value]


@pytest.mark.parametrize("decode_process", [False, True], ids=["here", "process"])
def test_what_was_polled_is_applied_before_a_rebalance_releases_it(
    tmp_path: Path, decode_process: bool
) -> None:
    whole = materialized_state(SIM, tmp_path / "a", batch_size=BATCH)
    log = _Log(tmp_path / "b" / "log", partitions=4, fsync=False)
    log.append(SIM)
    with Store(tmp_path / "b" / "db.duckdb") as store:
        rebalancing = _RebalancingConsumer(FileLogConsumer(log), store, at=4)
        log.given = rebalancing
        stats = materialize(log, store, batch_size=BATCH, decode_process=decode_process)
        assert stats.read == len(SIM)
        # Three polls before the rebalance: every event they returned was stored when the
        # partitions were released, the last poll's too, which was still being decoded
        # (the pipeline's batch ahead).
        assert rebalancing.at_release is not None
        returned, stored = rebalancing.at_release
        assert returned > 2 * BATCH and stored == returned
        assert state_of(store) == whole
    log.close()


def test_a_stop_loses_nothing_it_polled(tmp_path: Path) -> None:
    whole = materialized_state(SIM, tmp_path / "a", batch_size=BATCH)
    log = FileLog(tmp_path / "b" / "log", partitions=4, fsync=False)
    log.append(SIM)
    stop = threading.Event()

    def stop_after_two(stats: MaterializeStats) -> None:
        if stats.batches == 2:
            stop.set()

    with Store(tmp_path / "b" / "db.duckdb") as store:
        first = materialize(log, store, batch_size=BATCH, stop=stop, on_batch=stop_after_two)
        # Stopped with a batch polled and not applied: it is read again by the next run.
        assert first.read < len(SIM)
        (stored,) = store.con.execute("SELECT count(*) FROM events").fetchone() or (0,)
        assert stored == first.applied
        rest = materialize(log, store, batch_size=BATCH)
        assert first.read + rest.read == len(SIM)
        assert state_of(store) == whole
    log.close()


class _TrickleConsumer(LogConsumer):
    """A followed log that hands over a few events, then has nothing more at hand (its
    next poll waits, as Kafka's does), and never says it is caught up."""

    def __init__(self, inner: FileLogConsumer, applying: threading.Event) -> None:
        self.inner, self.applying = inner, applying
        self.polls = 0
        self.applying_during_next_poll: bool | None = None
        self.stop = threading.Event()

    def start(
        self, positions: PositionsProvider, released: PartitionsReleased | None = None
    ) -> None:
        self.inner.start(positions, released)

    def poll(self, max_records: int, timeout: float = 0.0) -> list[LogItem]:
        self.polls += 1
        if self.polls == 1:
            return self.inner.poll(20, timeout)
        # The poll that waits for new events: the batch before must not wait behind it.
        self.applying_during_next_poll = self.applying.wait(timeout=10)
        self.stop.set()
        return []

    def caught_up(self) -> bool:
        return False  # Kafka's view of the ends may lag behind what it fetched

    def close(self) -> None:
        self.inner.close()


def test_a_followed_short_batch_is_applied_before_the_next_poll_waits(tmp_path: Path) -> None:
    log = _Log(tmp_path / "log", partitions=4, fsync=False)
    log.append(SIM[:200])
    applying = threading.Event()
    with Store(tmp_path / "db.duckdb") as store:
        writer_apply = store.writer.apply

        def apply(batch: Batch, *, settle: bool = True) -> ApplyResult:
            applying.set()
            return writer_apply(batch, settle=settle)

        store.writer.apply = apply  # type: ignore[method-assign]
        trickle = _TrickleConsumer(FileLogConsumer(log), applying)
        log.given = trickle
        stats = materialize(
            log, store, batch_size=BATCH, follow=True, stop=trickle.stop, poll_timeout=1.0
        )
        assert trickle.applying_during_next_poll is True
        assert stats.applied == 20
    log.close()
