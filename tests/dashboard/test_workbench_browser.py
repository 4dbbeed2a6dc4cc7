"""The investigator's workbench in a real browser (Debian's Chromium through Playwright):
a step redraws the table and not the chart, play advances, a typed moment and the URL
carry the view (a link opens what was seen, back returns), the tables fit 1,280 and
1,920 px, every pivot page answers what `Queries.pivot` answers, and tables download
as CSV.
"""

from __future__ import annotations

import csv
import io
import shutil
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import Browser, Page

from pipeline.queries import Queries
from pipeline.timeutil import iso, parse_time
from tests.dashboard.test_browser import ARTIFACTS, TIMEOUT, browser, page

__all__ = ["browser", "page"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def moment(page: Page) -> str:
    return page.input_value("#replay-at")


def wait_summary(page: Page, at: str) -> None:
    page.wait_for_selector(f"#replay-summary:has-text('active at {at}')", timeout=TIMEOUT)


def url_params(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def wait_url(page: Page, key: str, value: str) -> None:
    page.wait_for_function(
        "([k, v]) => new URLSearchParams(location.search).get(k) === v",
        arg=[key, value],
        timeout=TIMEOUT,
    )


def sessions_shown(page: Page) -> set[str]:
    return set(page.locator("#replay-sessions tbody tr td:first-child").all_inner_texts())


def test_a_step_redraws_the_table_not_the_chart(page: Page, dashboard_url: str) -> None:
    page.goto(dashboard_url)
    page.wait_for_selector("#replay-activity .js-plotly-plot", timeout=TIMEOUT)
    wait_summary(page, moment(page))
    # Mark the chart's node: a redraw from the server would replace the figure's data.
    page.evaluate("document.querySelector('#replay-activity .js-plotly-plot').dataset.kept='1'")
    figures: list[str] = []
    page.on(
        "request",
        lambda r: (
            figures.append(r.post_data or "")
            if "_dash-update-component" in r.url and "replay-activity.figure" in (r.post_data or "")
            else None
        ),
    )
    before = parse_time(moment(page))
    cursor = page.evaluate(
        "document.querySelector('#replay-activity .js-plotly-plot').layout.shapes[0].x0"
    )
    page.click("#replay-forward")
    later = iso(before + timedelta(minutes=5))
    wait_summary(page, later)
    assert not figures, "a step asked the server for the chart"
    assert (
        page.evaluate("document.querySelector('#replay-activity .js-plotly-plot').dataset.kept")
        == "1"
    )
    page.wait_for_function(
        "c => document.querySelector('#replay-activity .js-plotly-plot').layout.shapes[0].x0 !== c",
        arg=cursor,
        timeout=TIMEOUT,
    )
    # Once the clock rests, every permission the step left out is filled in.
    page.wait_for_function(
        "() => document.querySelector('#replay-sessions') !== null"
        " && document.querySelectorAll('#replay-sessions .pending').length === 0",
        timeout=TIMEOUT,
    )
    cells = page.locator("#replay-sessions tbody tr td:last-child").all_inner_texts()
    assert cells and all(c.strip() and c.strip() != "-" for c in cells), cells


def test_play_advances_and_pauses(page: Page, dashboard_url: str) -> None:
    page.goto(dashboard_url)
    wait_summary(page, moment(page))
    start = parse_time(moment(page))
    page.click("#replay-play")
    page.wait_for_selector("#replay-play:has-text('pause')", timeout=TIMEOUT)
    # The clock moves in the browser, a step a second; the table follows (a table still
    # on its way when the next tick comes is superseded, so not every moment is drawn).
    page.wait_for_function(
        "t => Date.parse(document.querySelector('#replay-at').value) >= t",
        arg=(start + timedelta(minutes=15)).timestamp() * 1000,
        timeout=TIMEOUT,
    )
    page.wait_for_selector("#replay-summary:not(:has-text('active at " + iso(start) + "'))")
    page.click("#replay-play")
    page.wait_for_selector("#replay-play:has-text('play')", timeout=TIMEOUT)
    stopped = moment(page)
    assert parse_time(stopped) >= start + timedelta(minutes=15)
    wait_summary(page, stopped)  # paused, the table shows where the clock stopped


def test_typed_moment_and_the_url_round_trip(
    page: Page, browser: Browser, dashboard_url: str, org: Queries
) -> None:
    page.goto(dashboard_url)
    wait_summary(page, moment(page))
    first = moment(page)
    at = "2026-01-06T03:00:00Z"
    page.fill("#replay-at", "2026-01-06 03:00")  # a space for T, no zone: UTC
    page.press("#replay-at", "Enter")
    wait_summary(page, at)
    wait_url(page, "at", at)
    assert sessions_shown(page) == {s.session_id for s in org.who_held(at=parse_time(at))}
    page.fill("#replay-at", "not a time")
    page.press("#replay-at", "Enter")
    page.wait_for_selector("#replay-at-error:has-text('Not a moment')", timeout=TIMEOUT)

    # A filter joins the URL; a link opens the same view in another browser context.
    account = next(s.account_id for s in org.who_held(at=parse_time(at)) if s.account_id)
    assert account is not None
    page.click("#replay-account")
    page.click(f".dash-dropdown-option:has(input[value='{account}'])")
    page.keyboard.press("Escape")
    wait_url(page, "account", account)
    want = {s.session_id for s in org.who_held(at=parse_time(at), account_id=account)}
    page.wait_for_function(
        "n => document.querySelectorAll('#replay-sessions tbody tr').length === n",
        arg=len(want),
        timeout=TIMEOUT,
    )
    shared = page.url
    other = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
    other.goto(shared)
    wait_summary(other, at)
    assert sessions_shown(other) == want == sessions_shown(page)
    assert other.locator("#replay-account").inner_text().strip() == account
    other.context.close()

    # Back: the account filter goes, then the typed moment, then the first moment.
    page.go_back()
    page.wait_for_function(
        "() => !new URLSearchParams(location.search).get('account')", timeout=TIMEOUT
    )
    wait_summary(page, at)
    page.go_back()
    wait_summary(page, first)
    assert moment(page) == first

    # Timeline: its window and lanes are in the URL too.
    page.goto(
        dashboard_url + "timeline?from=2026-01-05T06:00:00Z&to=2026-01-05T12:00:00Z&lane=role"
    )
    page.wait_for_selector(
        "#timeline-summary:has-text('from 2026-01-05T06:00:00Z')", timeout=TIMEOUT
    )
    assert page.locator("#timeline-lane input[value='role']").is_checked()


def _no_overflow(page: Page) -> list[str]:
    """Every table's box and card whose content is wider than it."""
    found: list[str] = page.evaluate(
        """() => Array.from(document.querySelectorAll('.table-box, .card, main'))
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => (e.querySelector('table') || e).id + ' ' + e.scrollWidth + '>'
                      + e.clientWidth)"""
    )
    return found


@pytest.mark.parametrize("width", [1280, 1920])
def test_tables_fit_the_window(
    browser: Browser, dashboard_url: str, org: Queries, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    deepest = org.deepest_session()
    assert deepest is not None
    role = deepest.role_arn or ""
    pages = {
        "replay": ("", "#replay-sessions"),
        "timeline": ("timeline", "#timeline-graph .bars path"),
        "session": (f"session?id={quote(deepest.session_id)}", "#session-chain"),
        "findings": ("findings", "#findings-list"),
        "investigate": (
            f"investigate?principal={quote(deepest.origin_arn or '')}",
            "#investigate-sessions",
        ),
        "pivot-role": (f"pivot/role?arn={quote(role)}", "#pivot-sessions"),
    }
    for name, (path, ready) in pages.items():
        page.goto(dashboard_url + path)
        page.wait_for_selector(ready, timeout=TIMEOUT)
        assert _no_overflow(page) == [], (name, width)
        shot_name = f"{name}-{width}"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{shot_name}.png"), full_page=width == 1280)
        if width == 1280:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ARTIFACTS / f"{shot_name}.png", SCREENSHOTS / f"{name}.png")
    context.close()


def test_pivot_pages_answer_as_the_api(page: Page, dashboard_url: str, org: Queries) -> None:
    user = org.con.execute(
        "SELECT caller_arn FROM sessions WHERE caller_arn LIKE '%:user/%' LIMIT 1"
    ).fetchone()
    address = org.con.execute(
        "SELECT source_ip FROM actions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    deepest = org.deepest_session()
    assert user and address and deepest and deepest.role_arn
    clues = {
        "user": ("arn", str(user[0])),
        "key": ("id", deepest.access_key_ids[0]),
        "ip": ("addr", str(address[0])),
        "role": ("arn", deepest.role_arn),
    }
    for kind, (param, value) in clues.items():
        want = org.pivot(kind, value)
        page.goto(f"{dashboard_url}pivot/{kind}?{param}={quote(value, safe='')}")
        page.wait_for_selector("#pivot-summary", timeout=TIMEOUT)
        summary = page.locator("#pivot-summary").inner_text()
        assert summary.startswith(
            f"{want.sessions_total} session(s), {want.actions_total} call(s) "
            f"({want.denied_total} denied), {len(want.keys)} key(s)"
        ), (kind, summary)
        if want.sessions:
            page.wait_for_selector("#pivot-sessions", timeout=TIMEOUT)
        if want.keys:
            page.wait_for_selector("#pivot-keys", timeout=TIMEOUT)
        shown = page.locator("#pivot-sessions tbody tr td:first-child").all_inner_texts()
        assert shown == [s.session_id for s in want.sessions], kind
        if want.keys:
            keys = page.locator("#pivot-keys tbody tr td:first-child a").all_inner_texts()
            assert keys == [k.access_key_id for k in want.keys], kind
    # Every session, principal, role and origin cell is a link; a key link opens its page.
    cells = page.locator("#pivot-sessions tbody tr").first.locator("td")
    for i in range(4):
        assert cells.nth(i).locator("a").count() == 1, i
    page.locator("#pivot-keys tbody a").first.click()
    page.wait_for_url("**/pivot/key?id=*", timeout=TIMEOUT)
    page.wait_for_selector("#pivot-summary", timeout=TIMEOUT)
    shot_path = ARTIFACTS / "pivot.png"
    page.screenshot(path=str(shot_path), full_page=True)
    shutil.copyfile(shot_path, SCREENSHOTS / "pivot.png")
    # An unknown clue: one line, no table.
    page.goto(dashboard_url + "pivot/ip?addr=203.0.113.250")
    page.wait_for_selector("#pivot-error:has-text('no session began')", timeout=TIMEOUT)


def test_a_table_downloads_as_csv(page: Page, dashboard_url: str, org: Queries) -> None:
    page.goto(dashboard_url)
    wait_summary(page, moment(page))
    at = parse_time(moment(page))
    with page.expect_download(timeout=TIMEOUT) as info:
        page.click("#replay-table button.csv-export")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["session", "principal", "role"]
    assert {r[0] for r in rows[1:]} == {s.session_id for s in org.who_held(at=at)}
    # A short name in the table is whole in the CSV (the full ARN).
    roles = {r[2] for r in rows[1:]}
    assert any(r.startswith("arn:aws:iam::") for r in roles), roles


def test_timeline_marks_calls_and_splits_overlaps(page: Page, dashboard_url: str) -> None:
    page.goto(
        dashboard_url + "timeline?from=2026-01-05T08:00:00Z&to=2026-01-05T14:00:00Z&lane=role"
    )
    page.wait_for_selector("#timeline-graph .bars path", timeout=TIMEOUT)
    legend = page.locator("#timeline-graph .legendtext").all_text_contents()
    assert "call allowed" in legend, legend
    ticks = page.locator("#timeline-graph .ytick text").all_text_contents()
    assert any(t.endswith("(2)") for t in ticks), ticks  # overlapping sessions: a sub-lane
    shot_path = ARTIFACTS / "timeline-roles.png"
    page.screenshot(path=str(shot_path), full_page=True)
    shutil.copyfile(shot_path, SCREENSHOTS / "timeline-roles.png")


def test_findings_and_investigate_open_from_their_url(
    page: Page, dashboard_url: str, org: Queries
) -> None:
    from pipeline.findings import FindingFilter

    used_after = org.findings(FindingFilter(rule="used-after-end"))
    page.goto(dashboard_url + "findings?rule=used-after-end")
    page.wait_for_selector(
        f"#findings-summary:text-is('{len(used_after)} finding(s), newest first')",
        timeout=TIMEOUT,
    )
    # A filter chosen on the page joins the URL.
    page.click("#findings-severity")
    page.click(".dash-dropdown-option:has(input[value='high'])")
    page.keyboard.press("Escape")
    wait_url(page, "severity", "high")
    assert url_params(page)["rule"] == "used-after-end"

    deepest = org.deepest_session()
    assert deepest is not None
    key = deepest.access_key_ids[0]
    page.goto(dashboard_url + "investigate?key=" + key)
    page.wait_for_selector("#investigate-chain", timeout=TIMEOUT)
    links = page.locator("#investigate-chain a.mono").all_inner_texts()
    assert links == [s.session_id for s in org.trace(key).chain]
