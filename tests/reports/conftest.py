"""The demo's week (seed 7, from 2026-01-05, 7 days) put on a file log and materialized,
with the simulator's own events kept as ground truth."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.events import Event
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.simulator import Simulation, SimulationConfig
from pipeline.store import Store

START = datetime(2026, 1, 5, tzinfo=UTC)
END = START + timedelta(days=7)


@dataclass(frozen=True)
class Week:
    log: Path
    db: Path
    events: list[Event]

    @property
    def log_url(self) -> str:
        return f"file:{self.log}"


def build_week(base: Path) -> Week:
    events = list(Simulation(SimulationConfig(start=START, days=7, seed=7)).events())
    log_dir, db = base / "log", base / "rolecall.duckdb"
    log = FileLog(log_dir, partitions=4, fsync=False)
    log.append(events)
    with Store(db) as store:
        materialize(log, store)
    log.close()
    return Week(log_dir, db, events)


@pytest.fixture(scope="session")
def week_master(tmp_path_factory: pytest.TempPathFactory) -> Week:
    return build_week(tmp_path_factory.mktemp("week"))


@pytest.fixture
def week(week_master: Week, tmp_path: Path) -> Week:
    """A private copy of the week (tests append to its log and tamper with its store)."""
    log, db = tmp_path / "log", tmp_path / "rolecall.duckdb"
    shutil.copytree(week_master.log, log)
    shutil.copy(week_master.db, db)
    return Week(log, db, week_master.events)
