"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Needs /usr/bin/chromium (`make test` installs it); without it these tests fail, they
never skip. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from pipeline.queries import Queries
from pipeline.timeutil import parse_time

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",  # else it keeps calling hosts this machine cannot reach
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TIMEOUT = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's Chromium is missing: apt-get install -y chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, errors


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def table_sessions(page: Page) -> set[str]:
    return set(page.locator("#replay-sessions tbody tr td:first-child").all_inner_texts())


def moment(page: Page) -> str:
    return page.locator("#replay-moment").inner_text()


def test_replay_table_follows_the_slider(page: Page, dashboard_url: str, org: Queries) -> None:
    page.goto(dashboard_url)
    page.wait_for_selector("#replay-summary:has-text('active at')", timeout=TIMEOUT)
    first = moment(page)
    at = parse_time(first.replace(" ", "T") + "Z")
    assert table_sessions(page) == {s.session_id for s in org.who_held(at=at)}
    shot(page, "replay", full_page=False)

    # Move the slider: a click on its rail near the right end, then a step forward.
    rail = page.locator("#replay-slider").bounding_box()
    assert rail is not None
    page.mouse.click(rail["x"] + rail["width"] * 0.72, rail["y"] + rail["height"] / 2)
    page.wait_for_function(
        "m => document.querySelector('#replay-moment').innerText !== m",
        arg=first,
        timeout=TIMEOUT,
    )
    moved = moment(page)
    page.click("#replay-forward")
    page.wait_for_function(
        "m => document.querySelector('#replay-moment').innerText !== m",
        arg=moved,
        timeout=TIMEOUT,
    )
    page.wait_for_selector("#replay-summary:has-text('active at')", timeout=TIMEOUT)
    later = parse_time(moment(page).replace(" ", "T") + "Z")
    assert later - parse_time(moved.replace(" ", "T") + "Z") == timedelta(minutes=5)
    summary = page.locator("#replay-summary").inner_text()
    assert re.match(rf"{len(org.who_held(at=later))} session\(s\) active at", summary), summary
    assert table_sessions(page) == {s.session_id for s in org.who_held(at=later)}


def test_filter_narrows_the_table(page: Page, dashboard_url: str, org: Queries) -> None:
    page.goto(dashboard_url)
    page.wait_for_selector("#replay-summary:has-text('active at')", timeout=TIMEOUT)
    at = parse_time(moment(page).replace(" ", "T") + "Z")
    origin = next(s.origin_arn for s in org.who_held(at=at) if s.depth > 0)
    assert origin is not None
    page.fill("#replay-principal", origin)
    page.press("#replay-principal", "Enter")
    want = {s.session_id for s in org.who_held(at=at, principal_arn=origin)}
    page.wait_for_selector(f"#replay-summary:has-text('{len(want)} session(s)')", timeout=TIMEOUT)
    assert table_sessions(page) == want
    page.fill("#replay-principal", "")
    page.press("#replay-principal", "Enter")


def test_open_a_session_shows_its_chain(page: Page, dashboard_url: str, org: Queries) -> None:
    page.goto(dashboard_url)
    page.wait_for_selector("#replay-sessions", timeout=TIMEOUT)
    at = parse_time(moment(page).replace(" ", "T") + "Z")
    chained = next(s for s in org.who_held(at=at) if s.depth > 0)
    page.click(f"#replay-sessions a:text-is('{chained.session_id}')")
    page.wait_for_selector("#session-chain", timeout=TIMEOUT)
    detail = org.session(chained.session_id)
    links = page.locator("#session-chain a.mono").all_inner_texts()
    assert links == [s.session_id for s in detail.chain]
    origin_line = page.locator("#session-chain li.origin").inner_text()
    assert (chained.origin_arn or "").split("#")[-1] in origin_line
    assert page.locator("text=Actions with its keys").count() == 1
    shot(page, "session")


def test_timeline_click_opens_the_session(page: Page, dashboard_url: str) -> None:
    page.goto(dashboard_url + "timeline")
    page.wait_for_selector("#timeline-summary:has-text('one bar each')", timeout=TIMEOUT)
    page.wait_for_selector("#timeline-graph .bars path", timeout=TIMEOUT)
    shot(page, "timeline")
    page.locator("#timeline-graph .bars path").first.click(force=True)
    page.wait_for_selector("#session-chain", timeout=TIMEOUT)
    assert "/session?id=" in page.url


def test_investigate_an_access_key(page: Page, dashboard_url: str, org: Queries) -> None:
    deepest = org.deepest_session()
    assert deepest is not None
    key = deepest.access_key_ids[0]
    page.goto(dashboard_url + "investigate")
    page.wait_for_selector("#investigate-query", timeout=TIMEOUT)
    page.fill("#investigate-query", key)
    page.click("#investigate-go")
    page.wait_for_selector("#investigate-chain", timeout=TIMEOUT)
    links = page.locator("#investigate-chain a.mono").all_inner_texts()
    assert links == [s.session_id for s in org.trace(key).chain]
    shot(page, "investigate")


def test_investigate_who_could(page: Page, dashboard_url: str, org: Queries) -> None:
    at = "2026-01-06T12:30:00Z"  # in a 2-day simulation Deploy is admin 10:00-16:00 on day 2
    expected = org.who_could("iam:CreateUser", "*", parse_time(at))
    assert expected.sessions, "the simulated admin grant gives somebody iam:CreateUser"
    page.goto(dashboard_url + "investigate")
    page.wait_for_selector("#could-action", timeout=TIMEOUT)
    page.fill("#could-action", "iam:CreateUser")
    page.fill("#could-resource", "*")
    page.fill("#could-at", at)
    page.click("#could-go")
    page.wait_for_selector("#could-table", timeout=TIMEOUT)
    shown = page.locator("#could-table tbody tr td:first-child a").all_inner_texts()
    assert shown == [s.session_id for s, _ in expected.sessions]
    shot(page, "who-could")
