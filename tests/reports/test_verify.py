"""`report verify` recomputes a report from the log and says whether it holds: it does
after newer events arrive, it does not when the store was tampered with (naming what),
and it reads the HTML form too."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.simulator import Simulation, SimulationConfig
from pipeline.store import Store
from tests.reports.conftest import START, Week


def _make(week: Week, tmp_path: Path, name: str, *extra: str) -> Path:
    path = tmp_path / name
    r = CliRunner().invoke(
        main,
        [
            "report", "privileged", "--from", "2026-01-05", "--to", "2026-01-12",
            "--db", str(week.db), "--log", week.log_url, *extra,
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    if "--json" in extra:
        path.write_text(r.output)
    return path


def _verify(week: Week, path: Path, *extra: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["report", "verify", str(path), "--db", str(week.db), *extra])
    return r.exit_code, r.output


def test_an_untouched_report_holds_and_still_holds_after_newer_events(
    week: Week, tmp_path: Path
) -> None:
    report = _make(week, tmp_path, "r.json", "--json")
    code, said = _verify(week, report)
    assert code == 0 and said.startswith("the report holds"), said
    # newer events (another seed's day) reach the log and the store: the report, about
    # the log prefix it names, still holds
    log = FileLog(week.log, fsync=False)
    log.append(list(Simulation(SimulationConfig(start=START, days=1, seed=99)).events()))
    with Store(week.db) as store:
        materialize(log, store)
    log.close()
    code, said = _verify(week, report, "--json")
    assert code == 0, said
    doc = json.loads(said)
    assert (
        doc["holds"]
        and doc["diff"]["same"]
        and "up to the report's positions" in (doc["recomputed_from"])
    )


def test_a_tampered_store_is_caught(week: Week, tmp_path: Path) -> None:
    report = _make(week, tmp_path, "r.json", "--json")
    con = duckdb.connect(str(week.db))
    # an administrator's session moved: the stored event's time rewritten
    con.execute(
        "UPDATE events SET event_time = event_time + INTERVAL 1 DAY "
        "WHERE event_id = (SELECT min(event_id) FROM events WHERE event_type = 'RoleAssumed')"
    )
    con.close()
    code, said = _verify(week, report)
    assert code == 1, said
    assert said.startswith("the report does NOT hold")
    assert "store:" in said and "partition" in said


def test_a_deleted_session_row_is_caught_by_recomputing_from_the_store(
    week: Week, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the log, the answer is recomputed from the store (which holds the report's
    prefix): a derived row deleted there shows as a session gone."""
    report = _make(week, tmp_path, "r.json", "--json")
    doc = json.loads(report.read_text())
    gone = doc["sessions"][0]["session_id"]
    con = duckdb.connect(str(week.db))
    con.execute("DELETE FROM sessions WHERE session_id = ?", [gone])
    con.close()
    code, said = _verify(week, report, "--log", "file:" + str(tmp_path / "no-such-log"))
    assert code != 0 and "no rolecall log" in said
    doc["evidence"]["log_url"] = None
    report.write_text(json.dumps(doc))
    missing_default = tmp_path / "elsewhere"
    missing_default.mkdir()
    monkeypatch.chdir(missing_default)  # no ./data/log here
    r = CliRunner().invoke(
        main,
        ["report", "verify", str(report), "--db", str(week.db)],
        env={"ROLECALL_LOG": None},
    )
    # the default log (./data/log) is not there: recomputed from the store
    assert r.exit_code == 1, r.output
    assert f"- {gone}" in r.output and "recomputed from the store" in r.output


def test_the_html_report_is_verified_from_its_embedded_json(week: Week, tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    _make(week, tmp_path, "unused", "--html", str(html))
    text = html.read_text()
    assert "<script src" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert text.count("<svg") >= 2  # a timeline per origin
    code, said = _verify(week, html)
    assert code == 0, said


def test_not_a_report_is_one_line(tmp_path: Path, week: Week) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text('{"format": "something else"}')
    code, said = _verify(week, bogus)
    assert code != 0 and "not a rolecall report" in said and "Traceback" not in said


def test_diff_of_two_report_files(week: Week, tmp_path: Path) -> None:
    one = _make(week, tmp_path, "one.json", "--json")
    two = _make(week, tmp_path, "two.json", "--json")
    same = CliRunner().invoke(main, ["report", "diff", str(one), str(two), "--json"])
    assert same.exit_code == 0 and json.loads(same.output)["same"] is True
    other = tmp_path / "other.json"
    r = CliRunner().invoke(
        main,
        [
            "report", "privileged", "--from", "2026-01-06", "--to", "2026-01-12",
            "--db", str(week.db), "--json",
        ],
    )  # fmt: skip
    other.write_text(r.output)
    bad = CliRunner().invoke(main, ["report", "diff", str(one), str(other)])
    assert bad.exit_code != 0 and "different periods" in bad.output
