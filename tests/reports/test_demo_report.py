"""`rolecall demo` writes the privileged-access report of its history and says where; the
report holds when verified against the demo's log and store."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main
from pipeline.reports import load_report


def test_demo_prints_where_the_report_was_written(tmp_path: Path) -> None:
    data = tmp_path / "d"
    r = CliRunner().invoke(main, ["demo", "--no-serve", "--data", str(data), "--days", "2"])
    assert r.exit_code == 0, r.output
    found = re.search(r"report written to (\S+)", r.output)
    assert found, r.output
    path = Path(found.group(1))
    assert path == data / "privileged-access.html" and path.exists()
    report = load_report(str(path))
    assert report.sessions and any("OrgAdmin" in (s.role_arn or "") for s in report.sessions)
    assert report.evidence.log_url == f"file:{data / 'log'}"
    verified = CliRunner().invoke(
        main, ["report", "verify", str(path), "--db", str(data / "rolecall.duckdb")]
    )
    assert verified.exit_code == 0, verified.output
    assert verified.output.startswith("the report holds")
