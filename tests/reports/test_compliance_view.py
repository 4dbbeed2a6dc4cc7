"""The dashboard's Compliance view: the same report for a chosen period, its per-origin
summary and sessions, and downloads as CSV and HTML (in Chromium)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from dashboards.server import DashboardServer
from dashboards.source import QuerySource
from dashboards.views.compliance import compliance_report, privilege_of
from pipeline.errors import InputError
from pipeline.queries import Queries
from pipeline.reports import Period, Privilege, load_report, privileged_report
from tests.dashboard.test_browser import ARTIFACTS, CHROMIUM, FLAGS, TIMEOUT
from tests.reports.conftest import END, START, Week

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def test_the_view_reports_what_the_cli_reports(week_master: Week) -> None:
    with Queries.open(week_master.db) as q:
        shown = compliance_report(q, "2026-01-05", "2026-01-12T00:00:00Z", "policy", ADMIN, None)
        same = privileged_report(
            q,
            Period(START, END),
            Privilege(kind="policy", policy_arn=ADMIN),
            command="x",
            generated_at=datetime.now(UTC),
        )
    assert shown.sessions == same.sessions and shown.origins == same.origins
    assert "rolecall report privileged --from 2026-01-05T00:00:00Z" in shown.evidence.command


@pytest.mark.parametrize(
    ("kind", "a", "b", "said"),
    [
        ("policy", "AdministratorAccess", None, "give its ARN"),
        ("action", "iam:CreateUser", "", "give both"),
        ("nonsense", None, None, "unknown privilege"),
    ],
)
def test_a_bad_choice_is_said(kind: str, a: str | None, b: str | None, said: str) -> None:
    with pytest.raises(InputError, match=said):
        privilege_of(kind, a, b)


@pytest.fixture(scope="module")
def served(week_master: Week) -> Iterator[str]:
    source = QuerySource.open_read_only(week_master.db)
    server = DashboardServer(source, host="127.0.0.1", port=0).start()
    yield server.url
    server.stop()
    source.close()


@pytest.mark.browser
def test_compliance_page_shows_and_downloads(
    served: str, week_master: Week, tmp_path: Path
) -> None:
    with Queries.open(week_master.db) as q:
        want = privileged_report(
            q,
            Period(START, END),
            Privilege(),
            command="x",
            generated_at=datetime.now(UTC),
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1500, "height": 1000}
        )
        page = context.new_page()
        page.goto(served + "compliance")
        page.wait_for_selector("#compliance-session-list", timeout=TIMEOUT)
        # the data's range by default: the week, from its first to the day after its last
        summary = page.locator("#compliance-summary").inner_text()
        assert summary.startswith(f"{len(want.sessions)} session(s)"), summary
        ids = page.locator("#compliance-session-list tbody tr td:first-child").all_inner_texts()
        assert set(ids) == {s.session_id for s in want.sessions}
        assert page.locator("#compliance-origin-list tbody tr").count() == len(want.origins)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "compliance.png"))
        with page.expect_download(timeout=TIMEOUT) as got:
            page.click("#compliance-csv")
        rows = list(csv.reader(io.StringIO(got.value.path().read_text())))
        assert rows[0][:3] == ["session", "principal", "origin"]
        assert {r[0] for r in rows[1:]} == set(ids)
        with page.expect_download(timeout=TIMEOUT) as got:
            page.click("#compliance-html")
        saved = tmp_path / got.value.suggested_filename
        got.value.save_as(saved)
        assert saved.name.endswith(".html")
        assert {s.session_id for s in load_report(str(saved)).sessions} == set(ids)
        browser.close()
