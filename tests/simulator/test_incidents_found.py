"""The findings projection against the simulator's ground truth (issue 13, Done when):
the demo's history raises every rule on its staged case, a normal week raises none.

Runs where `pipeline.findings` exists (it is built alongside the simulator's incidents).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.events import Event
from pipeline.simulator import RULES, Incident, Simulation, SimulationConfig
from pipeline.simulator.cloudtrail import write_cloudtrail
from tests.cloudtrail_helpers import import_and_materialize

pytest.importorskip("pipeline.findings")

START = datetime(2026, 1, 5, tzinfo=UTC)


def _found(base: Path, events: list[Event]) -> list[tuple[str, set[str]]]:
    write_cloudtrail(iter(events), base / "trail")
    imported = import_and_materialize(base / "imported", base / "trail")
    with imported.queries() as q:
        return [(f.rule, set(f.evidence)) for f in q.findings()]


def test_every_staged_case_raises_its_rule(tmp_path: Path) -> None:
    sim = Simulation(SimulationConfig(start=START, days=3, seed=7))
    found = _found(tmp_path, list(sim.events()))
    incidents: list[Incident] = sim.incidents
    for i in incidents:
        evidence = set(i.cloudtrail_evidence())
        assert any(rule == i.rule and evidence & ids for rule, ids in found), i.rule
    assert {rule for rule, _ in found} == set(RULES)


def test_a_normal_week_raises_no_finding(tmp_path: Path) -> None:
    sim = Simulation(SimulationConfig(start=START, days=7, seed=7, incidents=False))
    assert _found(tmp_path, list(sim.events())) == []
