"""The HTML report opens in Debian's Chromium with no network access: every request the
page makes is recorded and none leaves the file; its timelines and tables render.

Needs /usr/bin/chromium (`make test` installs it); the screenshot goes to tests/artifacts/
(docs/screenshots/report.png is a copy)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Route, sync_playwright

from pipeline.cli import main
from tests.dashboard.test_browser import ARTIFACTS, CHROMIUM, FLAGS
from tests.reports.conftest import Week

pytestmark = pytest.mark.browser


def test_the_html_report_opens_offline_with_a_timeline_per_origin(
    week_master: Week, tmp_path: Path
) -> None:
    html = tmp_path / "privileged.html"
    r = CliRunner().invoke(
        main,
        [
            "report", "privileged", "--from", "2026-01-05", "--to", "2026-01-12",
            "--db", str(week_master.db), "--log", week_master.log_url, "--html", str(html),
        ],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert f"HTML report written to {html}" in r.output
    requested: list[str] = []
    errors: list[str] = []

    def refuse(route: Route) -> None:
        requested.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    assert CHROMIUM.exists(), "Debian's Chromium is missing: apt-get install -y chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        context = browser.new_context(offline=True, viewport={"width": 1400, "height": 1300})
        context.route("**/*", refuse)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(html.as_uri())
        page.wait_for_selector("h1")
        origins = page.locator("h2:has-text('Per origin') + table tbody tr").count()
        timelines = page.locator("svg[aria-label^='timeline of']").count()
        bars = page.locator("svg rect").count()
        rows = page.locator("h2:has-text('Sessions') + table tbody tr").count()
        evidence = page.locator(".evidence").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
        browser.close()
    assert requested == [html.as_uri()]  # nothing but the file itself
    assert not errors, errors
    assert origins >= 10 and timelines == origins
    assert rows >= 20 and bars >= rows  # every session a bar (plus the hatch pattern)
    assert "digest (rolecall-digest/2" in evidence and "rolecall report privileged" in evidence
