"""The HTML carries the report whole and safe: hostile text from the record (a role
session name, an origin) is escaped in the page and in the embedded JSON, and reads back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pipeline.queries import Queries
from pipeline.reports import Period, Privilege, Report, load_report, privileged_report
from pipeline.reports.html import render_html
from tests.reports.conftest import END, START, Week

HOSTILE = "</script><script>alert(1)</script><!--<img src=x onerror=alert(2)>"


def test_hostile_text_is_escaped_and_reads_back(week_master: Week, tmp_path: Path) -> None:
    with Queries.open(week_master.db) as q:
        report = privileged_report(
            q, Period(START, END), Privilege(), command="x", generated_at=datetime.now(UTC)
        )
    doc = report.as_json()
    doc["sessions"][0]["origin_label"] = HOSTILE
    doc["origins"][0]["origin_label"] = HOSTILE
    doc["evidence"]["command"] = HOSTILE
    hostile = Report.model_validate(doc)
    html = render_html(hostile)
    assert HOSTILE not in html and "<script>alert" not in html and "<img" not in html
    assert html.count("<script") == 1  # the embedded JSON only, which never runs
    path = tmp_path / "r.html"
    path.write_text(html)
    back = load_report(str(path))
    assert back == hostile
