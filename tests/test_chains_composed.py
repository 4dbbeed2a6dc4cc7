"""Chains composed from the parents' stored chains equal the walk that reads none.

The writer resolves a touched session's chain from its parent's stored one
(`pipeline.store.chains`). Here any shape of chaining (loops, a session holding its own
caller's key, a key two sessions claim, a key no session holds, chains deeper than
MAX_CHAIN_DEPTH), in any order and batching, must store what the level-by-level walk
through `key_owner` and `sessions` (`walk_chains`) gives for every session.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.events import Event
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.store import Store
from pipeline.store.chains import walk_chains
from pipeline.store.schema import CHAIN_COLUMNS, MAX_CHAIN_DEPTH
from tests import builders as b

ALICE = "arn:aws:iam::111122223333:user/alice"
MISSING = "ASIACOMPOSEDMISS"  # held by no session


def _key(i: int) -> str:
    return f"ASIACOMPOSED{i:04d}"


def _shape(rng: random.Random, n: int) -> list[Event]:
    """n sessions chained at random, and one chain deeper than the walk goes."""
    events: list[Event] = []
    for i in range(n):
        pick = rng.random()
        if pick < 0.2:
            caller: dict[str, object] = {"caller_arn": ALICE}
        elif pick < 0.3:
            caller = {"caller_key": MISSING}
        else:  # any session's key: its own, one below it (a loop), or above it
            caller = {"caller_key": _key(rng.randrange(n))}
        events += b.session(_key(i), f"R{i % 3}", i, **caller)
        if rng.random() < 0.15:  # a key another session claims too: the least id holds it
            events.append(b.issued(_key(rng.randrange(n)), i, session_id=_key(i)))
    deep = n + MAX_CHAIN_DEPTH + 4
    events += b.session(_key(n), "Top", 0, caller_arn=ALICE)
    for i in range(n + 1, deep):
        events += b.session(_key(i), "Deep", i, caller_key=_key(i - 1))
    return events


def _stored_and_walked(store: Store) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    columns = ", ".join(("session_id", *CHAIN_COLUMNS))
    stored = store.con.execute(f"SELECT {columns} FROM sessions ORDER BY 1").fetchall()  # noqa: S608
    walk_chains(store.con, "sessions")
    walked = store.con.execute(f"SELECT {columns} FROM c_walked ORDER BY 1").fetchall()  # noqa: S608
    return stored, walked


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 24),
    batch_size=st.sampled_from([1, 3, 7, 1000]),
)
def test_composed_chains_equal_the_walk_in_any_order(
    tmp_path_factory: pytest.TempPathFactory, seed: int, n: int, batch_size: int
) -> None:
    rng = random.Random(seed)
    events = _shape(rng, n)
    rng.shuffle(events)
    path = tmp_path_factory.mktemp("composed")
    log = FileLog(path / "log", partitions=1, fsync=False)
    try:
        log.append(events)
        with Store(path / "db.duckdb") as store:
            materialize(log, store, batch_size=batch_size)
            stored, walked = _stored_and_walked(store)
    finally:
        log.close()
    assert len(stored) == n + MAX_CHAIN_DEPTH + 4
    assert stored == walked
    # the deep chain stops where the walk stops
    assert max(row[3] for row in stored) == MAX_CHAIN_DEPTH  # type: ignore[type-var]


def test_a_parent_arriving_last_completes_a_deep_chain(tmp_path: Path) -> None:
    """The top of a chain deeper than the walk goes arrives after everything below it,
    one event a batch: every session below is redone, to the walk's depth."""
    events = _shape(random.Random(1), 2)
    top = [e for e in events if getattr(e, "session_id", None) == _key(2)]
    rest = [e for e in events if e not in top]
    log = FileLog(tmp_path / "log", partitions=1, fsync=False)
    try:
        log.append(rest)
        with Store(tmp_path / "db.duckdb") as store:
            materialize(log, store, batch_size=50)
            before, _ = _stored_and_walked(store)
            log.append(top)
            materialize(log, store, batch_size=1)
            stored, walked = _stored_and_walked(store)
    finally:
        log.close()
    assert stored == walked
    depth = {row[0]: row[3] for row in stored}
    origin = {row[0]: row[4] for row in stored}
    assert depth[_key(3)] == 1 and origin[_key(3)] == ALICE
    assert depth[_key(2 + MAX_CHAIN_DEPTH)] == MAX_CHAIN_DEPTH
    assert origin[_key(2 + MAX_CHAIN_DEPTH)] == ALICE
    assert before != stored  # the top's arrival changed the chains below it
