"""A normal simulated week raises no false finding, rule by rule (issue 13).

Today's simulator has one incident built in: an instance key of WebServer leaked and
used from 203.0.113.50 on day 2, then "revoke active sessions" on the role, after which
the revoked sessions' calls are denied. Those are true findings of two rules
(instance-credentials-elsewhere, used-after-end) and are checked to be exactly that
story; every other rule must raise nothing.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipeline.findings import RULES, Finding
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.queries import Queries
from pipeline.simulator import SimulationConfig, simulate
from pipeline.simulator.activity import LEAK_IP
from pipeline.store import Store
from pipeline.timeutil import parse_time

WEEK = SimulationConfig(start=parse_time("2026-01-05"), days=7, seed=7)
WEB_SERVER = "assumed-role/WebServer/"
# The rules the built-in incident legitimately raises.
INCIDENT_RULES = {"instance-credentials-elsewhere", "used-after-end"}


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    base = tmp_path_factory.mktemp("week")
    log = FileLog(base / "log", partitions=4, fsync=False)
    try:
        log.append(list(simulate(WEEK)))
        with Store(base / "db.duckdb") as store:
            materialize(log, store, batch_size=500)
    finally:
        log.close()
    with Queries.open(base / "db.duckdb") as q:
        found = q.findings()
        q.con.execute("SET TimeZone = 'UTC'")
        leak = q.con.execute(
            "SELECT min(event_time) FROM actions WHERE source_ip = ?", [LEAK_IP]
        ).fetchone()
    assert leak is not None and leak[0] is not None
    return found


@pytest.mark.parametrize("rule", [r for r in RULES if r not in INCIDENT_RULES])
def test_a_normal_week_raises_no_finding_of(rule: str, week: list[Finding]) -> None:
    assert [f.summary for f in week if f.rule == rule] == []


def test_the_leaked_instance_key_is_the_only_instance_finding(week: list[Finding]) -> None:
    found = [f for f in week if f.rule == "instance-credentials-elsewhere"]
    assert len(found) == 1
    (f,) = found
    assert LEAK_IP in f.summary and WEB_SERVER in (f.principal_arn or "")
    assert f.evidence_count == 3


def test_only_revoked_web_server_sessions_are_used_after_their_end(week: list[Finding]) -> None:
    found = [f for f in week if f.rule == "used-after-end"]
    assert found
    for f in found:
        assert "revoked at" in f.summary and "0 allowed" in f.summary
        assert f.severity == "medium"  # every call after the revocation was denied
        assert WEB_SERVER in (f.principal_arn or "")
    assert len({f.summary.split("revoked at ")[1][:20] for f in found}) == 1  # one revocation


def test_the_week_shuffled_and_in_small_batches_gives_the_same_findings(
    week: list[Finding], tmp_path: Path
) -> None:
    """The leaked key's finding rests on its sibling sessions' calls, which arrive here
    before and after it: the projection must find it whatever the order."""
    events = list(simulate(WEEK))
    random.Random(5).shuffle(events)
    log = FileLog(tmp_path / "log", partitions=3, fsync=False)
    try:
        log.append(events)
        with Store(tmp_path / "db.duckdb") as store:
            materialize(log, store, batch_size=211)
    finally:
        log.close()
    with Queries.open(tmp_path / "db.duckdb") as q:
        assert [f.as_json() for f in q.findings()] == [f.as_json() for f in week]
