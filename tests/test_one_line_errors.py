"""Hostile or mistaken arguments end in one line on stderr and a non-zero exit (issue 18,
finding 10): never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def _one_line(r: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert lines[0].startswith("rolecall: error: ")
    for part in expected:
        assert part in lines[0]


@pytest.mark.parametrize(
    ("start", "days"),
    [("1990-01-01T00:00:00Z", "1"), ("2300-01-01T00:00:00Z", "1"), ("2199-12-31T00:00:00Z", "3")],
)
def test_simulate_outside_the_accepted_years_is_one_line(
    start: str, days: str, tmp_path: Path
) -> None:
    for target in (["--log", f"file:{tmp_path}/log"], ["--cloudtrail", str(tmp_path / "ct")]):
        r = _run("simulate", "--start", start, "--days", days, *target)
        _one_line(r, f"--start {start}", "2006", "2200")
    assert not (tmp_path / "log").exists() and not (tmp_path / "ct").exists()


def test_simulate_at_the_edges_of_the_accepted_years_works(tmp_path: Path) -> None:
    for start in ("2006-01-01T00:00:00Z", "2199-12-29T00:00:00Z"):
        r = _run(
            "simulate", "--start", start, "--days", "1", "--log", f"file:{tmp_path}/{start[:4]}"
        )
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "url", ["kafka://127.0.0.1:99999/t", "kafka://127.0.0.1:-1/t", "kafka://h:x/t"]
)
def test_a_kafka_url_with_a_bad_port_is_one_line(url: str, tmp_path: Path) -> None:
    r = _run("materialize", "--log", url, "--db", str(tmp_path / "db.duckdb"))
    _one_line(r, "bad Kafka log URL", "PORT in 1..65535")
