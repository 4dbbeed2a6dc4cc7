"""The materializer: exactly once, order-independent, dead letters, resume."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.events import AssumeVia, Event
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import Store
from pipeline.store.schema import CHAIN_COLUMNS as STORED_CHAIN_COLUMNS
from pipeline.store.schema import SCHEMA_VERSION
from pipeline.timeutil import parse_time
from tests import builders as b
from tests.conftest import materialized_state, state_of

SIM = list(simulate(SimulationConfig(start=parse_time("2026-01-05"), days=2, seed=3)))


def test_materialize_is_idempotent_and_resumes(tmp_path: Path) -> None:
    log = FileLog(tmp_path / "log", fsync=False)
    log.append(SIM[:500])
    with Store(tmp_path / "db.duckdb") as store:
        first = materialize(log, store, batch_size=128)
        assert first.applied == 500
        again = materialize(log, store)
        assert again.read == 0  # resumed from the stored positions: nothing to do
        log.append(SIM[500:])
        rest = materialize(log, store)
        assert rest.read == rest.applied == len(SIM) - 500
        assert store.con.execute("SELECT count(*) FROM events").fetchone() == (len(SIM),)
    log.close()


def test_same_events_appended_twice_change_nothing(tmp_path: Path) -> None:
    once = materialized_state(SIM, tmp_path / "a")
    twice = materialized_state(SIM + SIM, tmp_path / "b")
    assert once == twice


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    batch_size=st.sampled_from([17, 97, 5000]),
    partitions=st.sampled_from([1, 3, 4]),
)
def test_state_does_not_depend_on_order_duplicates_or_batching(
    tmp_path_factory: object, seed: int, batch_size: int, partitions: int
) -> None:
    import pytest

    factory: pytest.TempPathFactory = tmp_path_factory  # type: ignore[assignment]
    events = SIM[:500]
    rng = random.Random(seed)
    shuffled = events + rng.sample(events, 80)  # duplicates
    rng.shuffle(shuffled)
    reference = materialized_state(events, factory.mktemp("ref"))
    other = materialized_state(
        shuffled, factory.mktemp("shuffled"), batch_size=batch_size, partitions=partitions
    )
    assert other == reference


def test_a_stored_session_updated_later_as_in_one_batch(tmp_path: Path) -> None:
    """The merge updates a stored session's lists apart from its other columns (only
    where they change): a better assumption, a new key and a key it holds already,
    arriving one a batch, give the row that one batch gives."""
    key = "ASIALISTS0000001"
    inferred = b.assumed(key, "Deploy", 2, via=AssumeVia.INFERRED, caller_arn=None)
    real = b.assumed(
        key,
        "Deploy",
        0,
        source_identity="alice",
        transitive_tag_keys=["team", "project"],
        session_policy_arns=["arn:aws:iam::aws:policy/ReadOnlyAccess"],
    )
    later_key = b.issued("ASIALISTS0000002", 30, session_id=key)
    again = b.issued(key, 40, session_id=key)  # a key it holds already: its list stays
    events = [inferred, b.issued(key, 0), real, later_key, again, b.exited(50, session_id=key)]
    one = materialized_state(events, tmp_path / "one", batch_size=100, partitions=1)
    apart = materialized_state(events, tmp_path / "apart", batch_size=1, partitions=1)
    assert apart == one
    (row,) = one["sessions"]
    assert "alice" in row and ["team", "project"] in row
    assert ["ASIALISTS0000001", "ASIALISTS0000002"] in row


def test_credential_before_its_session_and_inferred_then_issuing(materialized) -> None:  # type: ignore[no-untyped-def]
    key = "ASIAEARLYKEY0001"
    inferred = b.assumed(key, "Deploy", 2, via=AssumeVia.INFERRED, caller_arn=None)
    real = b.assumed(key, "Deploy", 0, source_identity="alice")
    q = materialized([b.issued(key, 0, hours=1), b.call(key, 5), inferred, real])
    views = q.who_held(at=b.at(10))
    assert len(views) == 1
    s = views[0]
    assert s.via == "ASSUME_ROLE" and s.source_identity == "alice"  # the issuing event wins
    assert s.started_at == b.at(0) and s.ends_at == b.at(60)
    assert len(q.actions(s.session_id)) == 1


def test_dead_letters_keep_position_and_reason(tmp_path: Path) -> None:
    log = FileLog(tmp_path / "log", partitions=1, fsync=False)
    log.append([b.assumed("ASIA1", "R", event_id="good-1")])
    log.append_encoded([(b"k", b"garbage", "?"), (b"k", b"\xc3\x01" + b"\x00" * 12, "?")])
    log.append([b.assumed("ASIA2", "R", event_id="good-2")])
    with Store(tmp_path / "db.duckdb") as store:
        stats = materialize(log, store)
        assert (stats.applied, stats.dead_letters) == (2, 2)
        rows = store.con.execute(
            'SELECT "offset", reason FROM dead_letters ORDER BY "offset"'
        ).fetchall()
        assert rows[0][0] == 1 and "C3 01" in rows[0][1]
        assert rows[1][0] == 2 and "fingerprint" in rows[1][1]
        assert store.writer.positions(log.name) == {0: 4}
    log.close()


def test_conflicting_duplicate_first_wins_and_is_reported(tmp_path: Path) -> None:
    log = FileLog(tmp_path / "log", partitions=1, fsync=False)
    log.append(
        [
            b.assumed("ASIA1", "First", event_id="same"),
            b.assumed("ASIA1", "Second", event_id="same"),
        ]
    )
    with Store(tmp_path / "db.duckdb") as store:
        stats = materialize(log, store)
        assert (stats.applied, stats.conflicts) == (1, 1)
        assert store.con.execute("SELECT role_arn FROM sessions").fetchone() == (b.role("First"),)
        assert store.con.execute("SELECT count(*) FROM conflicts").fetchone() == (1,)
    log.close()


def test_hash_chain_extends_per_partition(tmp_path: Path) -> None:
    import hashlib

    from pipeline.store.writer import GENESIS, chain_link

    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    log.append(SIM[:50])
    with Store(tmp_path / "db.duckdb") as store:
        materialize(log, store)
        for p in (0, 1):
            rows = store.con.execute(
                'SELECT "offset", body, chain_hash FROM events WHERE partition = ? '
                'ORDER BY "offset"',
                [p],
            ).fetchall()
            head = GENESIS
            for offset, body, stored in rows:
                head = chain_link(head, log.name, p, offset, bytes(body))
                assert head == bytes(stored)
            assert store.con.execute(
                "SELECT head FROM chain_heads WHERE partition = ?", [p]
            ).fetchone() == (head,)
        assert len(hashlib.sha256().digest()) == len(GENESIS)
    log.close()


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 5), st.binary(max_size=300)), min_size=0, max_size=60),
    seed=st.integers(0, 2**32 - 1),
    log_name=st.sampled_from(["log", "file:/tmp/ü log", "a\x00b"]),
)
def test_the_batch_chain_links_are_chain_link_in_order(
    rows: list[tuple[int, bytes]], seed: int, log_name: str
) -> None:
    """The writer links a batch's rows in Arrow (`_chain_links`): each row's link, the
    heads, counts and last offsets are `chain_link`'s, walked row by row in (partition,
    offset) order, whatever order the rows come in."""
    import pyarrow as pa

    from pipeline.store.writer import GENESIS, _chain_links, chain_link

    offsets = random.Random(seed).sample(range(10**12), len(rows))
    table = pa.table(
        {
            "partition": pa.array([p for p, _ in rows], pa.int32()),
            "offset": pa.array(offsets, pa.int64()),
            "body": pa.array([body for _, body in rows], pa.binary()),
        }
    )
    stored = {1: b"\x01" * 32, 4: b"\x04" * 32}
    heads = dict(stored)
    links, counts, last = _chain_links(heads, log_name, table)
    expected, want_heads = [b""] * len(rows), dict(stored)
    want_counts: dict[int, int] = {}
    want_last: dict[int, int] = {}
    for i in sorted(range(len(rows)), key=lambda i: (rows[i][0], offsets[i])):
        p = rows[i][0]
        want_heads[p] = expected[i] = chain_link(
            want_heads.get(p, GENESIS), log_name, p, offsets[i], rows[i][1]
        )
        want_counts[p] = want_counts.get(p, 0) + 1
        want_last[p] = offsets[i]
    assert links.to_pylist() == expected
    assert (heads, counts, last) == (want_heads, want_counts, want_last)


def test_replayed_events_already_stored_are_duplicates(tmp_path: Path) -> None:
    """Both ways of finding stored events: a few hash hits (one filtered scan), many (a join)."""
    assert len(SIM) > 1000  # more hits than one probe names
    log = FileLog(tmp_path / "log", fsync=False)
    log.append(SIM)
    with Store(tmp_path / "db.duckdb") as store:
        materialize(log, store)
        before = state_of(store)
        log.append(SIM[:7])
        few = materialize(log, store)
        log.append(SIM)
        many = materialize(log, store, batch_size=len(SIM))
        assert (few.applied, few.duplicates) == (0, 7)
        assert (many.applied, many.duplicates, many.conflicts) == (0, len(SIM), 0)
        assert state_of(store) == before
    log.close()


def test_schema_2_store_is_migrated(tmp_path: Path) -> None:
    """A store written before events lost their id index keeps its events and dedupes."""
    log = FileLog(tmp_path / "log", fsync=False)
    log.append(SIM[:300])
    db = tmp_path / "db.duckdb"
    with Store(db) as store:
        materialize(log, store)
        hashes = store.con.execute("SELECT event_id, id_hash FROM events ORDER BY 1").fetchall()
        # back to schema 2's shape: an indexed event_id, no hash
        store.con.execute("CREATE TABLE old AS SELECT * EXCLUDE (id_hash) FROM events")
        store.con.execute("DROP TABLE events")
        cols = ", ".join(
            f'"{c}" {t}' + (" PRIMARY KEY" if c == "event_id" else "")
            for c, t in store.con.execute(
                "SELECT column_name, column_type FROM (DESCRIBE old)"
            ).fetchall()
        )
        store.con.execute(f"CREATE TABLE events ({cols})")
        store.con.execute("INSERT INTO events SELECT * FROM old")
        store.con.execute("DROP TABLE old")
        store.con.execute("UPDATE store_meta SET value = '2' WHERE key = 'schema_version'")
    with Store(db) as store:
        assert store.con.execute(
            "SELECT value FROM store_meta WHERE key = 'schema_version'"
        ).fetchone() == (str(SCHEMA_VERSION),)
        assert store.con.execute("SELECT event_id, id_hash FROM events ORDER BY 1").fetchall() == (
            hashes
        )
        log.append(SIM[:300])
        again = materialize(log, store)
        assert (again.applied, again.duplicates) == (0, 300)
    log.close()


def test_schema_3_store_is_migrated(tmp_path: Path) -> None:
    """A store written before sessions knew their use gets it, with the same ends."""
    log = FileLog(tmp_path / "log", fsync=False)
    log.append(SIM[:400])
    db = tmp_path / "db.duckdb"
    ends = (
        "SELECT session_id, first_used_at, last_used_at, expiry_at, expiry_basis, base_ends_at "
        "FROM sessions ORDER BY 1"
    )
    with Store(db) as store:
        materialize(log, store)
        before = store.con.execute(ends).fetchall()
        uses = store.con.execute("SELECT * FROM key_use ORDER BY 1").fetchall()
        assert any(row[2] is not None for row in before)
        # back to schema 3's shape
        store.con.execute("DROP TABLE key_use")
        for column in ("first_used_at", "last_used_at", "expiry_at", "expiry_basis"):
            store.con.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
        store.con.execute("ALTER TABLE sessions DROP COLUMN start_estimated")
        store.con.execute("ALTER TABLE role_assumptions DROP COLUMN start_estimated")
        store.con.execute("UPDATE store_meta SET value = '3' WHERE key = 'schema_version'")
    with Store(db) as store:
        assert store.con.execute(ends).fetchall() == before
        assert store.con.execute("SELECT * FROM key_use ORDER BY 1").fetchall() == uses
    log.close()


# -- chains resolved on write (#16) ----------------------------------------------------

ALICE = "arn:aws:iam::111122223333:user/alice"


def _chain_events() -> list[Event]:
    """alice -> A (key KA) -> B (caller KA, key KB) -> C (caller KB, key KC)."""
    return [
        *b.session("ASIACHAINKEYAAAA", "A", 0, caller_arn=ALICE),
        *b.session("ASIACHAINKEYBBBB", "B", 5, caller_key="ASIACHAINKEYAAAA"),
        *b.session("ASIACHAINKEYCCCC", "C", 10, caller_key="ASIACHAINKEYBBBB"),
    ]


CHAIN_COLUMNS = (
    "SELECT session_id, parent_session_id, ancestor_ids, depth, origin_arn, origin_type, "
    "origin_resolved, origin_missing_key FROM sessions ORDER BY 1"
)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(range(6)), batch_size=st.sampled_from([1, 2, 6]))
def test_chains_are_resolved_on_write_in_any_order(
    tmp_path_factory: object, order: list[int], batch_size: int
) -> None:
    """A parent arriving after its child (or its key after both) completes the chain."""
    import pytest

    factory: pytest.TempPathFactory = tmp_path_factory  # type: ignore[assignment]
    events = _chain_events()
    path = factory.mktemp("chain")
    log = FileLog(path / "log", partitions=1, fsync=False)
    log.append([events[i] for i in order])
    with Store(path / "db.duckdb") as store:
        materialize(log, store, batch_size=batch_size)
        rows = store.con.execute(CHAIN_COLUMNS).fetchall()
    log.close()
    a, bb, c = "ASIACHAINKEYAAAA", "ASIACHAINKEYBBBB", "ASIACHAINKEYCCCC"
    assert rows == [
        (a, None, [], 0, ALICE, None, True, None),
        (bb, a, [a], 1, ALICE, None, True, None),
        (c, bb, [a, bb], 2, ALICE, None, True, None),
    ]


def test_a_chain_missing_its_top_is_unresolved_until_it_arrives(tmp_path: Path) -> None:
    events = _chain_events()
    ends = (
        "SELECT depth, origin_arn, origin_resolved, origin_missing_key FROM sessions "
        "WHERE session_id = 'ASIACHAINKEYCCCC'"
    )
    log = FileLog(tmp_path / "log", partitions=1, fsync=False)
    try:
        log.append(events[2:])  # B and C: A's key is held by no stored session yet
        with Store(tmp_path / "db.duckdb") as store:
            materialize(log, store)
            # the top-most known caller, unresolved beyond the key no session holds
            assert store.con.execute(ends).fetchone() == (1, ALICE, False, "ASIACHAINKEYAAAA")
            log.append(events[:2])
            materialize(log, store)
            assert store.con.execute(ends).fetchone() == (2, ALICE, True, None)
    finally:
        log.close()


def test_schema_4_store_is_migrated(tmp_path: Path) -> None:
    """A store written before chains were resolved on write gets them on open."""
    log = FileLog(tmp_path / "log", fsync=False)
    log.append([*SIM[:400], *_chain_events()])
    db = tmp_path / "db.duckdb"
    with Store(db) as store:
        materialize(log, store)
        before = store.con.execute(CHAIN_COLUMNS).fetchall()
        owners = store.con.execute("SELECT * FROM key_owner ORDER BY 1").fetchall()
        assert any(row[3] for row in before)
        # back to schema 4's shape
        store.con.execute("DROP TABLE key_owner")
        for column in STORED_CHAIN_COLUMNS:
            store.con.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
        store.con.execute("UPDATE store_meta SET value = '4' WHERE key = 'schema_version'")
    with Store(db) as store:
        assert store.con.execute(CHAIN_COLUMNS).fetchall() == before
        assert store.con.execute("SELECT * FROM key_owner ORDER BY 1").fetchall() == owners
    log.close()


def test_schema_6_store_gets_its_address_use_when_migrated(tmp_path: Path) -> None:
    """A store written before `address_use` existed gets it, and the same findings, on open."""
    log = FileLog(tmp_path / "log", fsync=False)
    log.append(list(SIM))
    db = tmp_path / "db.duckdb"
    use = "SELECT * FROM address_use ORDER BY ALL"
    findings = "SELECT finding_id, summary, evidence FROM findings ORDER BY ALL"
    with Store(db) as store:
        materialize(log, store)
        before, found = store.con.execute(use).fetchall(), store.con.execute(findings).fetchall()
        assert before and found
        # back to schema 6's shape
        store.con.execute("DROP TABLE address_use")
        store.con.execute("UPDATE store_meta SET value = '6' WHERE key = 'schema_version'")
    with Store(db) as store:
        assert store.con.execute(use).fetchall() == before
        assert store.con.execute(findings).fetchall() == found
    log.close()


def test_schema_8_store_gets_its_session_hashes_when_migrated(tmp_path: Path) -> None:
    """A store written before sessions carried their id hash gets it on open, and the
    writer, which finds stored sessions by it, then goes on as on a store it wrote itself."""
    half = len(SIM) // 2
    fresh = materialized_state(SIM, tmp_path / "fresh")
    log = FileLog(tmp_path / "log", fsync=False)
    log.append(SIM[:half])
    db = tmp_path / "db.duckdb"
    hashes = "SELECT session_id, id_hash FROM sessions ORDER BY 1"
    with Store(db) as store:
        materialize(log, store)
        before = store.con.execute(hashes).fetchall()
        assert before and all(h is not None for _, h in before)
        # back to schema 8's shape
        store.con.execute("ALTER TABLE sessions DROP COLUMN id_hash")
        store.con.execute("UPDATE store_meta SET value = '8' WHERE key = 'schema_version'")
    with Store(db) as store:
        assert store.con.execute(hashes).fetchall() == before
        log.append(SIM[half:])
        materialize(log, store)  # a session it did not find again would be a second row
        assert state_of(store) == fresh
    log.close()


_USE_KEYS = (
    ("key_use", "access_key_id"),
    ("address_use", "source_ip, access_key_id, principal_arn"),
    ("key_owner", "access_key_id"),
)


def test_schema_9_store_loses_its_use_keys_and_goes_on(tmp_path: Path) -> None:
    """A store whose `key_use`, `address_use` and `key_owner` had primary keys (schema 9)
    keeps their rows without the keys on open, and the writer's merges, which now keep one
    row per key themselves, go on as on a store they wrote."""
    half = len(SIM) // 2
    fresh = materialized_state(SIM, tmp_path / "fresh")
    log = FileLog(tmp_path / "log", fsync=False)
    log.append(SIM[:half])
    db = tmp_path / "db.duckdb"
    keyed = (
        "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
        "AND table_name IN ('key_use', 'address_use', 'key_owner') ORDER BY 1"
    )
    with Store(db) as store:
        materialize(log, store)
        assert store.con.execute(keyed).fetchall() == []
        uses = {
            t: sorted(store.con.execute(f"SELECT * FROM {t}").fetchall())  # noqa: S608
            for t in ("key_use", "address_use", "key_owner")
        }
        assert all(uses.values())
        # back to schema 9's shape: the same rows under a primary key
        for table, key in _USE_KEYS:
            old_shape = (
                f"CREATE TABLE {table}_old AS SELECT * FROM {table}; DROP TABLE {table}; "  # noqa: S608
                f"CREATE TABLE {table} AS SELECT * FROM {table}_old LIMIT 0; "
                f"ALTER TABLE {table} ADD PRIMARY KEY ({key}); "
                f"INSERT INTO {table} SELECT * FROM {table}_old; DROP TABLE {table}_old"
            )
            store.con.execute(old_shape)
        assert len(store.con.execute(keyed).fetchall()) == 3
        store.con.execute("UPDATE store_meta SET value = '9' WHERE key = 'schema_version'")
    with Store(db) as store:
        assert store.con.execute(keyed).fetchall() == []
        for table, rows in uses.items():
            assert sorted(store.con.execute(f"SELECT * FROM {table}").fetchall()) == rows  # noqa: S608
        log.append(SIM[half:])
        materialize(log, store)  # a key merged as new when stored would be a second row
        assert state_of(store) == fresh
        for table, key in _USE_KEYS:
            twice = store.con.execute(
                f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)"  # noqa: S608
            ).fetchone()
            assert twice == (0,)
    log.close()
