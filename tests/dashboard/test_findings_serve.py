"""Under `rolecall serve`, a finding whose evidence reaches the log appears on an open
Findings page without a reload or a restart (how fast: `rolecall bench --only dashboard`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Page

from pipeline.cli import main
from pipeline.events import AssumeVia, EventSource, RoleAssumed
from pipeline.log import open_log
from pipeline.producer import Producer
from pipeline.timeutil import parse_time
from tests.dashboard.test_browser import TIMEOUT, browser, page

__all__ = ["browser", "page"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "900000000042"


def test_a_new_finding_appears_on_an_open_page_under_serve(page: Page, tmp_path: Path) -> None:
    a_new_finding_appears_under_serve(page, f"file:{tmp_path / 'log'}", tmp_path / "live.duckdb")


def a_new_finding_appears_under_serve(page: Page, log_url: str, db: Path) -> None:
    """The check, on any log (`tests/kafka/test_kafka_serve.py` runs it on Kafka)."""
    start = "2026-01-05T00:00:00Z"
    simulate = ["simulate", "--seed", "3", "--start", start, "--days", "1"]
    r = CliRunner().invoke(main, [*simulate, "--log", log_url])
    assert r.exit_code == 0, r.output
    serve = ["serve", "--log", log_url, "--db", str(db), "--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *serve],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("dashboard at http://127.0.0.1:"), line
        url = line.split()[2].rstrip(";")
        page.goto(url + "findings")
        page.wait_for_selector("#findings-summary:has-text('finding(s)')", timeout=TIMEOUT)
        assert page.locator(f"#findings-list td:text-is('{ACCOUNT}')").count() == 0

        # A root console sign-in, appended by another writer while the page stays open.
        arn = f"arn:aws:iam::{ACCOUNT}:root"
        when = parse_time(start) + timedelta(days=1, hours=1)
        log = open_log(log_url, create=False)
        with Producer(log) as producer:
            producer.emit(
                RoleAssumed(
                    event_id="test-serve-root-sign-in",
                    event_time=when,
                    account_id=ACCOUNT,
                    source=EventSource.SIMULATOR,
                    session_id=f"{arn}|console@{when.isoformat()}",
                    session_arn=arn,
                    via=AssumeVia.CONSOLE_SIGN_IN,
                    caller_arn=arn,
                    caller_type="Root",
                    mfa_authenticated=True,
                    lifecycle_key=f"{arn}|console",
                )
            )
        log.close()
        row = page.locator("#findings-list tbody tr", has=page.locator(f"td:text-is('{ACCOUNT}')"))
        row.wait_for(timeout=TIMEOUT)
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == "root-used" and cells[1] == "high"
        # Newest first: the new sign-in is a day after the simulated history.
        first = page.locator("#findings-list tbody tr").first.locator("td").all_inner_texts()
        assert first == cells
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
