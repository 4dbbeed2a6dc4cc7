"""One behaviour, every store: the same cases over a single DuckDB file and a directory
store (one file per log partition), both materialized from the embedded log (#16).

The directory store is what several materializers in a Kafka consumer group write; here
it is written by one materializer over a four-partition file log, so it is tested
without a broker. The chain's sessions are keyed to land in different partition files,
so chains that cross files are exercised.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboards.source import QuerySource
from pipeline.cli import main
from pipeline.events import Event, partition_stem
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.queries import Queries, Trace
from pipeline.sessions import SessionFilter
from pipeline.store import Store
from pipeline.store.directory import partition_files
from pipeline.store.partitioned import PartitionedStore
from tests import builders as b

PARTITIONS = 4
ALICE = "arn:aws:iam::111122223333:user/alice"
BOB = "arn:aws:iam::111122223333:user/bob"


def _assumed(role: str) -> str:
    return f"arn:aws:sts::111122223333:assumed-role/{role}/s"


def _partition(key: str) -> int:
    return zlib.crc32(partition_stem(key).encode()) % PARTITIONS


def _keys_in_distinct_partitions(n: int) -> list[str]:
    """`n` access keys whose sessions land in `n` different partitions."""
    keys: list[str] = []
    used: set[int] = set()
    i = 0
    while len(keys) < n:
        key = f"ASIACONTRACT{i:04d}"
        if _partition(key) not in used:
            used.add(_partition(key))
            keys.append(key)
        i += 1
    return keys


TOP, MIDDLE, BOTTOM = _keys_in_distinct_partitions(3)


def _events() -> list[Event]:
    many = [
        e for i in range(30) for e in b.session(f"ASIAMANY{i:08d}", f"R{i % 3}", i, caller_arn=BOB)
    ]
    return [
        *many,
        # the chain arrives bottom first: every link is completed later
        *b.session(BOTTOM, "Deploy", 12, caller_key=MIDDLE, caller_arn=_assumed("Ops")),
        *b.session(MIDDLE, "Ops", 11, caller_key=TOP, caller_arn=_assumed("Engineer")),
        *b.session(TOP, "Engineer", 10, caller_arn=ALICE),
        b.call(BOTTOM, 13),
        b.exited(20, session_id="ASIAMANY00000005"),
        b.revoked("R0", 25),
    ]


class StoreContract:
    """What every reader sees, whichever store the materializer wrote."""

    @pytest.fixture
    def db(self, tmp_path: Path) -> Path:
        raise NotImplementedError

    @pytest.fixture
    def q(self, db: Path) -> Iterator[Queries]:
        with Queries.open(db) as q:
            yield q

    def test_who_held_pages_and_streams_the_same_sessions(self, q: Queries) -> None:
        every = q.who_held(at=b.at(15))
        assert len(every) == 16 + 3  # the sessions begun at minutes 0 to 15, and the chain
        page = q.who_held_page(at=b.at(15), limit=5, offset=3)
        assert page.total == len(every)
        assert [s.session_id for s in page.sessions] == [s.session_id for s in every[3:8]]
        assert list(q.who_held_stream(at=b.at(15))) == every
        assert q.who_held_page(at=b.at(15), limit=5, offset=500).total == len(every)

    def test_exits_and_revocations_end_sessions(self, q: Queries) -> None:
        ends = {s.session_id: s.end_reason for s in q.who_held(at=b.at(19))}
        assert ends["ASIAMANY00000005"] == "exited"
        assert ends["ASIAMANY00000003"] == "revoked"  # R0, issued before the revocation
        held = {s.session_id for s in q.who_held(at=b.at(26))}
        assert "ASIAMANY00000005" not in held and "ASIAMANY00000003" not in held

    def test_a_chain_resolves_to_its_origin(self, q: Queries) -> None:
        trace = q.trace(BOTTOM)
        assert isinstance(trace, Trace)
        assert (trace.origin_arn, trace.origin_resolved, trace.origin_label) == (
            ALICE,
            True,
            ALICE,
        )
        assert [s.session_id for s in trace.chain] == [TOP, MIDDLE, BOTTOM]
        assert [s.depth for s in trace.chain] == [0, 1, 2]
        assert trace.chain[-1].parent_session_id == MIDDLE

    def test_a_principal_filter_matches_the_origin(self, q: Queries) -> None:
        found = q.who_held(at=b.at(15), principal_arn=ALICE)
        assert {s.session_id for s in found} == {TOP, MIDDLE, BOTTOM}
        total, page = q.sessions_of(SessionFilter(principal=ALICE), limit=2)
        assert total == 3 and [s.session_id for s in page] == [BOTTOM, MIDDLE]

    def test_holders_of_a_role_by_origin(self, q: Queries) -> None:
        (deploy,) = q.holders(b.role("Deploy"))
        assert (deploy["origin_arn"], deploy["origin_label"], deploy["sessions"]) == (
            ALICE,
            ALICE,
            1,
        )
        assert [h["sessions"] for h in q.holders(b.role("R1"))] == [10]

    def test_session_detail_and_its_calls(self, q: Queries) -> None:
        detail = q.session(BOTTOM)
        assert [s.session_id for s in detail.chain] == [TOP, MIDDLE, BOTTOM]
        assert [a.lifetime for a in detail.actions] == ["within"]

    def test_replay_pictures(self, q: Queries) -> None:
        start, end = b.at(0), b.at(0) + timedelta(hours=3)
        events = q.replay_events(start, end)
        assert sum(e.kind == "start" for e in events) == 33
        assert q.timeline(start, end).total == 33
        assert q.active_sessions(b.at(15), limit=4).total == len(q.who_held(at=b.at(15)))

    def test_who_could_reads_the_same_sessions(self, q: Queries) -> None:
        answer = q.who_could("s3:GetObject", "*", b.at(15))
        assert answer.considered == len(q.who_held(at=b.at(15)))

    def test_the_dashboard_opens_it(self, db: Path) -> None:
        source = QuerySource.open_read_only(db)
        try:
            with source.queries() as q:
                assert q.trace(BOTTOM).origin_label == ALICE  # type: ignore[union-attr]
        finally:
            source.close()

    def test_verify_and_json_commands_read_it(self, db: Path) -> None:
        for deep in ([], ["--deep"]):
            verified = CliRunner().invoke(main, ["verify", "--db", str(db), *deep])
            assert verified.exit_code == 0, verified.output
        held = CliRunner().invoke(
            main, ["who-held", "--at", b.at(15).isoformat(), "--db", str(db), "--json"]
        )
        assert held.exit_code == 0, held.output


def _log(tmp_path: Path, events: Sequence[Event]) -> FileLog:
    log = FileLog(tmp_path / "log", partitions=PARTITIONS, fsync=False)
    log.append(list(events))
    return log


class TestSingleFileStore(StoreContract):
    @pytest.fixture
    def db(self, tmp_path: Path) -> Path:
        log = _log(tmp_path, _events())
        with Store(tmp_path / "db.duckdb") as store:
            materialize(log, store, batch_size=7)
        log.close()
        return tmp_path / "db.duckdb"


class TestDirectoryStore(StoreContract):
    @pytest.fixture
    def db(self, tmp_path: Path) -> Path:
        log = _log(tmp_path, _events())
        directory = tmp_path / "store"
        with PartitionedStore(directory) as store:
            materialize(log, store, batch_size=7)
        log.close()
        assert len(partition_files(directory)) == PARTITIONS
        return directory

    def test_the_chain_really_crosses_files(self) -> None:
        assert len({_partition(k) for k in (TOP, MIDDLE, BOTTOM)}) == 3
