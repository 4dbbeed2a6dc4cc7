"""A small simulated store for the CLI tests (2 days of the demo's organization)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from pipeline.cli import main

AT = "2026-01-05T12:00:00Z"


def build(base: Path) -> str:
    log, db = f"file:{base}/log", str(base / "rolecall.duckdb")
    for args in (
        ["simulate", "--seed", "7", "--start", "2026-01-05T00:00:00Z", "--days", "2", "--log", log],
        ["materialize", "--log", log, "--db", db],
    ):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
    return db


def invoke(*args: str, columns: int | None = None) -> Any:
    """Run the CLI with stdout piped; `columns` sets COLUMNS (None: unset, width unknown)."""
    env = {"COLUMNS": str(columns) if columns else None}
    return CliRunner(env=env).invoke(main, list(args))


def held(db: str, at: str = AT) -> list[dict[str, Any]]:
    r = invoke("who-held", "--at", at, "--db", db, "--json")
    assert r.exit_code == 0, r.output
    sessions: list[dict[str, Any]] = json.loads(r.output)
    return sessions
