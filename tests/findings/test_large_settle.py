"""The findings' widest work, bounded (issue 15): a settle that covers weeks of a fleet
runs the instance rule by chunks of instances, and machine-iam-admin groups its
candidates in SQL. Neither changes what is found: the chunks give the findings of one
whole query, and the groups are the ones the rule's definition gives, computed here by
hand from the policy history."""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

import pytest

from pipeline.findings import machine, projection, rules
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import Store
from pipeline.timeutil import parse_time

STAGED = SimulationConfig(start=parse_time("2026-01-05"), days=3, seed=7, incidents=True)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("machine")
    log = FileLog(base / "log", partitions=2, fsync=False)
    try:
        log.append(list(simulate(STAGED)))
        with Store(base / "db.duckdb") as store:
            materialize(log, store, batch_size=5_000)
    finally:
        log.close()
    return base / "db.duckdb"


def _by_hand(rows: list[tuple[Any, ...]], changes: list[tuple[Any, ...]]) -> set[frozenset[str]]:
    """The groups as the rule defines them: a role's policies change with its own changes
    and every managed policy's; sessions alike, of one role, started between the same two
    such changes are one group."""
    managed = sorted(t for t, _, kind in changes if kind == "MANAGED_POLICY")
    own: dict[str, list[Any]] = {}
    for t, target, kind in changes:
        if kind != "MANAGED_POLICY":
            own.setdefault(target, []).append(t)
    groups: dict[tuple[Any, ...], set[str]] = {}
    for session_id, started_at, *alike in rows:
        if started_at is None:
            epoch = -1
        else:
            times = own.get(alike[0], [])
            epoch = bisect.bisect_right(managed, started_at) + bisect.bisect_right(
                sorted(times), started_at
            )
        key = (epoch, *(tuple(v) if isinstance(v, list) else v for v in alike))
        groups.setdefault(key, set()).add(session_id)
    return {frozenset(g) for g in groups.values()}


def test_the_groups_are_those_of_the_policy_history(staged: Path) -> None:
    with Store(staged) as store:
        con = store.con
        con.execute("BEGIN")
        try:
            con.execute("CREATE TEMP TABLE f_scope AS SELECT session_id AS actor FROM sessions")
            con.execute(
                "CREATE TEMP TABLE f_machine_since AS SELECT NULL::TIMESTAMP AS since WHERE false"
            )
            # a managed policy's new version halfway, inside this rolled-back transaction:
            # it splits every role's sessions (the staged history changes roles only)
            con.execute(
                "INSERT INTO policy_changes (event_id, event_time, account_id, source, "
                "target_type, target_arn, change_type) SELECT 'composed:managed', "
                "min(started_at) + (max(started_at) - min(started_at)) / 2, '111122223333', "
                "'test', 'MANAGED_POLICY', 'arn:aws:iam::111122223333:policy/Composed', "
                "'CREATE_POLICY_VERSION' FROM sessions"
            )
            machine._group(con)
            reps = [r for (r,) in con.execute("SELECT rep FROM f_machine_groups").fetchall()]
            formed: dict[str, set[str]] = {}
            for rep, member in machine._members(con, reps):
                formed.setdefault(rep, set()).add(member)
            epochs = con.execute("SELECT count(DISTINCT epoch) FROM f_machine_groups").fetchone()
            cols = ", ".join(machine._ALIKE)
            rows = con.execute(
                f"SELECT session_id, started_at, {cols} FROM sessions "  # noqa: S608
                f"WHERE {rules.MACHINE_CANDIDATES}"
            ).fetchall()
            changes = con.execute(
                "SELECT event_time, target_arn, target_type FROM policy_changes"
            ).fetchall()
        finally:
            con.execute("ROLLBACK")
    expected = _by_hand(rows, changes)
    # the history splits some role's sessions, and groups gather many: the check has teeth
    assert epochs is not None and epochs[0] > 1
    assert len(expected) < len(rows) / 2
    assert {frozenset(g) for g in formed.values()} == expected
    assert all(rep == min(members) for rep, members in formed.items())


def _rebuilt(store: Store) -> tuple[list[tuple[Any, ...]], int]:
    """Every finding rebuilt inside a rolled-back transaction, and how many chunks the
    instance rule took."""
    con = store.con
    con.execute("BEGIN")
    try:
        chunks = 0
        real = rules.instance_elsewhere

        def counted(t: Any, chunk: int) -> str:
            nonlocal chunks
            chunks += 1
            return real(t, chunk)

        with pytest.MonkeyPatch.context() as patched:
            patched.setattr(rules, "instance_elsewhere", counted)
            projection.rebuild(con)
        found = con.execute(
            "SELECT finding_id, rule, anchor, summary, evidence FROM findings ORDER BY ALL"
        ).fetchall()
    finally:
        con.execute("ROLLBACK")
    return found, chunks


def test_the_instance_rule_by_chunks_finds_what_one_query_finds(
    staged: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(staged) as store:
        whole, one = _rebuilt(store)
        monkeypatch.setattr(rules, "SIBLINGS_PER_CHUNK", 1)  # an instance a chunk
        chunked, many = _rebuilt(store)
    assert one == 1 and many > 1
    assert [f for f in whole if f[1] == rules.INSTANCE_RULE]  # the staged case is found
    assert chunked == whole
