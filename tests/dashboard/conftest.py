from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboards.server import DashboardServer
from dashboards.source import QuerySource
from pipeline.cli import main
from pipeline.queries import Queries


@pytest.fixture(scope="session")
def org_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated organization (2 days, seed 7), materialized into a DuckDB file."""
    base = tmp_path_factory.mktemp("org")
    log, db = f"file:{base}/log", base / "rolecall.duckdb"
    for args in (
        ["simulate", "--seed", "7", "--start", "2026-01-05T00:00:00Z", "--days", "2", "--log", log],
        ["materialize", "--log", log, "--db", str(db)],
    ):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
    return db


@pytest.fixture
def org(org_db: Path) -> Iterator[Queries]:
    q = Queries.open(org_db)
    yield q
    q.close()


@pytest.fixture(scope="session")
def dashboard_url(org_db: Path) -> Iterator[str]:
    """The dashboard served from a thread of the test process on a free loopback port."""
    source = QuerySource.open_read_only(org_db)
    server = DashboardServer(source, host="127.0.0.1", port=0).start()
    yield server.url
    server.stop()
    source.close()
