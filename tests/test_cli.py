"""The CLI end to end: the foundation's acceptance scenario, and clean errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.cli.group import UnavailableCommand

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    base = tmp_path_factory.mktemp("cli")
    log, db = f"file:{base}/log", str(base / "rolecall.duckdb")
    r = CliRunner().invoke(
        main,
        ["simulate", "--seed", "7", "--start", "2026-01-05T00:00:00Z", "--days", "2", "--log", log],
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["materialize", "--log", log, "--db", db])
    assert r.exit_code == 0, r.output
    return log, db


def test_who_held_sessions_trace_back_to_themselves(simulated: tuple[str, str]) -> None:
    _log, db = simulated
    r = CliRunner().invoke(main, ["who-held", "--at", "2026-01-05T12:00:00Z", "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    held = json.loads(r.output)
    assert len(held) > 20
    required = {
        "session_id",
        "account_id",
        "role_arn",
        "principal_arn",
        "origin_arn",
        "via",
        "started_at",
        "ends_at",
        "end_reason",
        "access_key_ids",
    }
    for s in held:
        assert required <= s.keys()
        assert s["started_at"] <= "2026-01-05T12:00:00Z" < s["ends_at"]
        for key in s["access_key_ids"]:
            t = CliRunner().invoke(main, ["trace", key, "--db", db, "--json"])
            assert t.exit_code == 0, t.output
            trace = json.loads(t.output)
            assert trace["session_id"] == s["session_id"]
            assert trace["origin_arn"] == s["origin_arn"]
            assert trace["chain"][-1]["session_id"] == s["session_id"]
            assert trace["chain"][0]["depth"] == 0


def test_materialize_again_changes_nothing(simulated: tuple[str, str]) -> None:
    log, db = simulated
    before = Path(db).read_bytes()
    r = CliRunner().invoke(main, ["materialize", "--log", log, "--db", db])
    assert r.exit_code == 0
    assert "materialized 0 records" in r.output
    import duckdb

    with duckdb.connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] > 1000  # type: ignore[index]
        assert (
            con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone()
            == con.execute("SELECT count(*), count(*) FROM events").fetchone()
        )
    assert len(before) > 0


def test_session_command_shows_chain_and_actions(simulated: tuple[str, str]) -> None:
    _, db = simulated
    held = json.loads(
        CliRunner()
        .invoke(main, ["who-held", "--at", "2026-01-05T12:00:00Z", "--db", db, "--json"])
        .output
    )
    sid = next(s["session_id"] for s in held if s["via"] == "ASSUME_ROLE")
    r = CliRunner().invoke(main, ["session", sid, "--db", db, "--json"])
    detail = json.loads(r.output)
    assert detail["session"]["session_id"] == sid
    assert detail["chain"][-1]["session_id"] == sid
    assert detail["actions"], "simulated chained sessions always act"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["who-held", "--at", "yesterday-ish"], "malformed time"),
        (
            ["who-held", "--at", "2026-01-05T12:00:00Z", "--db", "/nonexistent/x.duckdb"],
            "no rolecall database",
        ),
        (["trace", "ASIANOSUCHKEY000"], "no session holds access key"),
        (["session", "nope"], "no session 'nope'"),
        (["materialize", "--log", "s3://bucket", "--db", "/tmp/x.duckdb"], "unknown log URL"),
    ],
)
def test_bad_input_is_one_clean_line(
    simulated: tuple[str, str], args: list[str], message: str
) -> None:
    _, db = simulated
    if "--db" not in args:
        args = [*args, "--db", db]
    r = run(*args)
    assert r.returncode != 0
    assert message in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        if isinstance(main.get_command(ctx, name), UnavailableCommand):
            continue  # named by the registry, its module not in this build yet
        assert re.search(rf"rolecall {re.escape(name)}\b", readme), f"{name} is undocumented"


def test_every_command_has_help_with_an_example() -> None:
    for name in main.list_commands(click.Context(main)):
        r = CliRunner().invoke(main, [name, "--help"])
        assert r.exit_code == 0, r.output
        assert "rolecall" in r.output or name == "demo", f"{name} --help shows no example"


def test_demo_no_serve_prints_the_summary(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        main, ["demo", "--no-serve", "--data", str(tmp_path / "d"), "--days", "2"]
    )
    assert r.exit_code == 0, r.output
    assert "Investigation summary" in r.output
    assert "role/OrgAdmin had AdministratorAccess" in r.output
    assert re.search(r"Example chain: access key ASIA[A-Z2-7]{16} traced", r.output)
    assert (tmp_path / "d" / "rolecall.duckdb").exists()


def test_who_held_json_streams_every_session_and_pages(simulated: tuple[str, str]) -> None:
    """`--json` is the list of every active session, as one JSON document (#16); the
    stream is the same text `json.dumps(..., indent=2)` of the whole list would be."""
    from pipeline.queries import Queries
    from pipeline.timeutil import parse_time

    _log, db = simulated
    at = "2026-01-05T12:00:00Z"
    r = CliRunner().invoke(main, ["who-held", "--at", at, "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    with Queries.open(db) as q:
        every = [s.model_dump(mode="json") for s in q.who_held(at=parse_time(at))]
    assert r.output == json.dumps(every, indent=2) + "\n"
    paged = CliRunner().invoke(
        main, ["who-held", "--at", at, "--db", db, "--json", "--limit", "5", "--offset", "3"]
    )
    assert paged.exit_code == 0, paged.output
    assert json.loads(paged.output) == every[3:8]
    table = CliRunner().invoke(main, ["who-held", "--at", at, "--db", db, "--limit", "2"])
    assert table.exit_code == 0, table.output
    assert f"{len(every)} sessions active" in table.output and "(showing 1-2)" in table.output
    nobody = CliRunner().invoke(
        main, ["who-held", "--at", "2020-01-01T00:00:00Z", "--db", db, "--json"]
    )
    assert nobody.output == "[]\n"
