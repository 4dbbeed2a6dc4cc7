"""A normal simulated week raises no false finding, rule by rule; the staged week's
findings do not depend on the order the events arrive in (issue 13).

The simulator stages one case of each rule when `incidents` is on (the demo); with it
off, a week is normal and must raise nothing at all. That the staged cases raise their
rules is checked in tests/simulator/test_incidents_found.py.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipeline.events import Event
from pipeline.findings import RULES, Finding
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.queries import Queries
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import Store
from pipeline.timeutil import parse_time

START = parse_time("2026-01-05")
NORMAL_WEEK = SimulationConfig(start=START, days=7, seed=7, incidents=False)
STAGED = SimulationConfig(start=START, days=3, seed=7, incidents=True)


def _findings(events: list[Event], base: Path, batch_size: int) -> list[Finding]:
    log = FileLog(base / "log", partitions=3, fsync=False)
    try:
        log.append(events)
        with Store(base / "db.duckdb") as store:
            materialize(log, store, batch_size=batch_size)
    finally:
        log.close()
    with Queries.open(base / "db.duckdb") as q:
        return q.findings()


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    return _findings(list(simulate(NORMAL_WEEK)), tmp_path_factory.mktemp("week"), 500)


@pytest.mark.parametrize("rule", RULES)
def test_a_normal_week_raises_no_finding_of(rule: str, week: list[Finding]) -> None:
    assert [f.summary for f in week if f.rule == rule] == []


def test_the_staged_days_shuffled_and_in_small_batches_give_the_same_findings(
    tmp_path: Path,
) -> None:
    """Findings rest on other sessions' calls (an instance's own addresses, a role's
    revocation), which arrive here before and after them: the projection must find the
    same ones, with the same ids, whatever the order and the batching."""
    events = list(simulate(STAGED))
    ordered = _findings(events, tmp_path / "ordered", 5000)
    assert {f.rule for f in ordered} == set(RULES)
    shuffled = list(events)
    random.Random(5).shuffle(shuffled)
    again = _findings(shuffled, tmp_path / "shuffled", 211)
    assert [f.as_json() for f in again] == [f.as_json() for f in ordered]
