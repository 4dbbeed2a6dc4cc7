"""The Replay answers as known at a moment: a session delivered late is in the table now,
and not in the table as known before it arrived (in Chromium); without the log, the
control says what it needs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import sync_playwright

from dashboards.server import DashboardServer
from dashboards.source import QuerySource
from pipeline.errors import InputError
from pipeline.timeutil import iso_z
from tests.dashboard.test_browser import CHROMIUM, FLAGS, TIMEOUT
from tests.reports.conftest import START, Week
from tests.reports.test_known_at import LATE_KEY, _deliver_late, _late_events

LATE_ACTIVE = START + timedelta(days=1, hours=15, minutes=30)  # the late session's middle


@pytest.fixture
def late(week: Week) -> Iterator[tuple[Week, datetime]]:
    """The week, then a late delivery after `known` (the moment before it arrived)."""
    known = datetime.now(UTC)
    time.sleep(0.05)  # ingest times are the log's clock: the late records come after
    _deliver_late(week, _late_events("none-such-session", START + timedelta(days=2)))
    yield week, known


def test_without_the_log_the_source_says_what_it_needs(week_master: Week) -> None:
    source = QuerySource.open_read_only(week_master.db)
    try:
        with pytest.raises(InputError, match="--log"):
            source.known_at(datetime.now(UTC))
    finally:
        source.close()


def test_a_moment_asked_twice_is_built_once(late: tuple[Week, datetime]) -> None:
    week, known = late
    source = QuerySource.open_read_only(week.db, log_url=week.log_url)
    try:
        first, said = source.known_at(known)
        again, _ = source.known_at(known)
        assert again is first
        assert said.at == known and "log records ingested up to" in said.note
        with first.queries() as q:
            then = {s.session_id for s in q.who_held(at=LATE_ACTIVE)}
        with source.queries() as q:
            now = {s.session_id for s in q.who_held(at=LATE_ACTIVE)}
        assert LATE_KEY in now and LATE_KEY not in then
        assert now - then == {LATE_KEY}
    finally:
        source.close()


@pytest.mark.browser
def test_replay_as_known_at_leaves_out_what_came_later(late: tuple[Week, datetime]) -> None:
    week, known = late
    source = QuerySource.open_read_only(week.db, log_url=week.log_url)
    server = DashboardServer(source, host="127.0.0.1", port=0).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(f"{server.url}?at={iso_z(LATE_ACTIVE)}")
            shown = "#replay-sessions tbody tr td:first-child"
            page.wait_for_selector(f"{shown}:has-text('{LATE_KEY}')", timeout=TIMEOUT)
            page.fill("#replay-known-at", iso_z(known))
            page.press("#replay-known-at", "Enter")
            page.wait_for_selector("#replay-known-note", timeout=TIMEOUT)
            note = page.inner_text("#replay-known-note")
            assert note.startswith(f"As known at {iso_z(known)}"), note
            assert LATE_KEY not in page.locator(shown).all_inner_texts()
            # the moment is in the address: a link opens the same answer
            page.wait_for_function(
                "k => new URLSearchParams(location.search).get('known') === k",
                arg=iso_z(known),
                timeout=TIMEOUT,
            )
            linked = browser.new_page(viewport={"width": 1500, "height": 1000})
            linked.goto(page.url)
            linked.wait_for_selector("#replay-known-note", timeout=TIMEOUT)
            assert LATE_KEY not in linked.locator(shown).all_inner_texts()
            linked.close()
            page.fill("#replay-known-at", "")
            page.press("#replay-known-at", "Enter")
            page.wait_for_selector(f"{shown}:has-text('{LATE_KEY}')", timeout=TIMEOUT)
            assert page.locator("#replay-known-note").count() == 0
            page.fill("#replay-known-at", "not a time")
            page.press("#replay-known-at", "Enter")
            page.wait_for_selector("#replay-table:has-text('malformed time')", timeout=TIMEOUT)
            browser.close()
    finally:
        server.stop()
        source.close()
