"""Findings in the dashboard, in a real browser (Debian's Chromium through Playwright).

On the simulated organization of the fixtures (2 days, seed 7), which stages one case of
each finding rule: the Findings view lists them, its filters narrow it, a finding opens
its session with the evidence rows highlighted, and the Replay chart marks them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from pipeline.findings import RULES, FindingFilter
from pipeline.queries import Queries
from pipeline.sessions import SessionFilter
from pipeline.timeutil import parse_time
from tests.dashboard.test_browser import ARTIFACTS, TIMEOUT, browser, page, shot

__all__ = ["browser", "page"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def listed(page: Page) -> list[list[str]]:
    """The Findings table's rows, as the cells' texts."""
    rows = page.locator("#findings-list tbody tr")
    return [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]


def type_bound(page: Page, field: str, text: str, n: int) -> None:
    """Type a time bound and press Enter until the table shows `n` findings: on a loaded
    machine an Enter pressed while the previous answer was in flight was once lost."""
    for attempt in range(3):
        page.fill(f"#{field}", text)
        page.press(f"#{field}", "Enter")
        try:
            wait_for_count(page, n)
            return
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise


def wait_for_count(page: Page, n: int) -> None:
    page.wait_for_selector(
        f"#findings-summary:text-is('{n} finding(s), newest first')", timeout=TIMEOUT
    )


def choose(page: Page, dropdown: str, value: str) -> None:
    page.click(f"#{dropdown}")
    page.click(f".dash-dropdown-option:has(input[value='{value}'])")
    page.keyboard.press("Escape")  # a menu left open would take the next click


def clear(page: Page, dropdown: str) -> None:
    """Clear a dropdown with its x, and see it cleared (a click the menu took is retried)."""
    button = page.locator(f"#{dropdown} .dash-dropdown-clear")
    for _ in range(3):
        page.keyboard.press("Escape")
        button.click(timeout=TIMEOUT)
        try:
            button.wait_for(state="detached", timeout=5_000)
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"{dropdown} could not be cleared")


def test_findings_view_lists_every_rule_newest_first(
    page: Page, dashboard_url: str, org: Queries
) -> None:
    expected = org.findings()
    assert {f.rule for f in expected} == set(RULES), "the simulator stages every rule"
    page.goto(dashboard_url + "findings")
    wait_for_count(page, len(expected))
    rows = listed(page)
    assert [r[0] for r in rows] == [f.rule for f in expected]  # newest first, as the API
    assert [r[1] for r in rows] == [f.severity for f in expected]
    for row, f in zip(rows, expected, strict=True):
        origin = row[5].strip()
        assert origin and origin not in ("None", "?"), row
        assert row[7] == str(f.evidence_count)
        assert f.summary == row[6]
    assert page.locator("header a.active").inner_text() == "Findings"
    shot(page, "findings")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ARTIFACTS / "findings.png", SCREENSHOTS / "findings.png")


def test_findings_filters_narrow_the_table(page: Page, dashboard_url: str, org: Queries) -> None:
    page.goto(dashboard_url + "findings")
    wait_for_count(page, len(org.findings()))

    used_after = org.findings(FindingFilter(rule="used-after-end"))
    assert len(used_after) >= 2
    choose(page, "findings-rule", "used-after-end")
    wait_for_count(page, len(used_after))
    assert {r[0] for r in listed(page)} == {"used-after-end"}

    high = org.findings(FindingFilter(rule="used-after-end", severity="high"))
    assert 0 < len(high) < len(used_after)
    choose(page, "findings-severity", "high")
    wait_for_count(page, len(high))
    assert {(r[0], r[1]) for r in listed(page)} == {("used-after-end", "high")}

    # Any rule again (the dropdown's clear), then an account and a time range.
    clear(page, "findings-rule")
    clear(page, "findings-severity")
    everything = org.findings()
    wait_for_count(page, len(everything))
    account = "111122223333"
    of_account = org.findings(FindingFilter(account_id=account))
    assert 0 < len(of_account) < len(everything)
    choose(page, "findings-account", account)
    wait_for_count(page, len(of_account))
    assert {r[3] for r in listed(page)} == {account}
    clear(page, "findings-account")
    wait_for_count(page, len(everything))

    start, end = "2026-01-06T12:00:00Z", "2026-01-06T14:00:00Z"
    window = org.findings(FindingFilter(start=parse_time(start), end=parse_time(end)))
    assert 0 < len(window) < len(everything)
    # One bound at a time, each answer awaited: two quick Enters raced under load.
    type_bound(
        page, "findings-from", start, len(org.findings(FindingFilter(start=parse_time(start))))
    )
    type_bound(page, "findings-to", end, len(window))
    assert [r[0] for r in listed(page)] == [f.rule for f in window]

    page.fill("#findings-to", "not a time")
    page.press("#findings-to", "Enter")
    page.wait_for_selector("#findings-summary:has-text('malformed time')", timeout=TIMEOUT)


# Holds the answer to a change of the rule filter for 3 s in the browser, past the
# Findings page's 2 s refresh tick, and counts the ticks sent meanwhile.
HOLD_RULE_ANSWER = """
(() => {
  const original = window.fetch;
  window.__held = 0;
  window.__holding = 0;
  window.__ticksWhileHeld = 0;
  window.fetch = function (input, init) {
    let changed = [];
    try {
      changed = JSON.parse((init && init.body) || "{}").changedPropIds || [];
    } catch (e) {}
    if (changed.includes("findings-refresh.n_intervals") && window.__holding > 0) {
      window.__ticksWhileHeld += 1;
    }
    const answer = original.apply(this, arguments);
    if (!changed.includes("findings-rule.value")) {
      return answer;
    }
    window.__held += 1;
    window.__holding += 1;
    return answer.then((r) => new Promise((resolve) => setTimeout(() => {
      window.__holding -= 1;
      resolve(r);
    }, 3000)));
  };
})();
"""


def test_a_refresh_tick_does_not_swallow_a_filter_answer_in_flight(
    page: Page, dashboard_url: str, org: Queries
) -> None:
    # The browser drops an answer still in flight when a newer call of the same callback
    # starts; the refresh tick is such a call, so it must answer the new filter itself.
    page.add_init_script(HOLD_RULE_ANSWER)
    page.goto(dashboard_url + "findings")
    wait_for_count(page, len(org.findings()))
    used_after = org.findings(FindingFilter(rule="used-after-end"))
    choose(page, "findings-rule", "used-after-end")
    wait_for_count(page, len(used_after))
    assert {r[0] for r in listed(page)} == {"used-after-end"}
    assert page.evaluate("window.__held") >= 1, "the filter's answer was not held"
    page.wait_for_function("window.__holding === 0", timeout=TIMEOUT)
    assert page.evaluate("window.__ticksWhileHeld") >= 1, "no tick raced the held answer"


def test_a_finding_opens_its_session_with_the_evidence_highlighted(
    page: Page, dashboard_url: str, org: Queries
) -> None:
    # A session used after its exit: one of its two calls is the evidence, so the
    # highlight has to pick it out.
    found = org.findings(FindingFilter(rule="used-after-end", severity="high"))[0]
    assert found.session_id is not None
    detail = org.session(found.session_id)
    evidence = [a for a in detail.actions if a.event_id in set(found.evidence)]
    assert 0 < len(evidence) < len(detail.actions)

    page.goto(dashboard_url + "findings")
    page.wait_for_selector("#findings-list", timeout=TIMEOUT)
    page.click(f"#findings-list a[href*='finding={found.finding_id}']")
    page.wait_for_selector("#session-actions", timeout=TIMEOUT)
    assert f"finding={found.finding_id}" in page.url
    assert found.session_id in page.locator("h2").inner_text()
    highlighted = page.locator("#session-actions tbody tr.evidence")
    assert highlighted.count() == len(evidence)
    times = {t.split("\t")[0] for t in highlighted.all_inner_texts()}
    assert times == {a.event_time.strftime("%Y-%m-%d %H:%M:%S") for a in evidence}
    others = page.locator("#session-actions tbody tr:not(.evidence)").count()
    assert others == len(detail.actions) - len(evidence)

    # The session lists its findings, the one opened marked.
    own = org.findings_of_session(found.session_id)
    rules = page.locator("#session-findings tbody tr td:first-child").all_inner_texts()
    assert rules == [f.rule for f in own]
    assert page.locator("#session-findings tr.chosen").inner_text().startswith("used-after-end")
    note = page.locator("#session-evidence-note").inner_text()
    assert f"{len(evidence)} of its {found.evidence_count} evidence event(s)" in note
    shot(page, "finding-session")


def test_replay_chart_marks_findings_by_severity(
    page: Page, dashboard_url: str, org: Queries
) -> None:
    page.goto(dashboard_url)
    page.wait_for_selector("#replay-activity .js-plotly-plot .scatterlayer .point", timeout=TIMEOUT)
    traces = page.evaluate(
        """() => document.querySelector('#replay-activity .js-plotly-plot').data
             .filter(t => (t.name || '').endsWith(' finding'))
             .map(t => ({name: t.name, n: t.x.length, rules: t.customdata.map(c => c[0])}))"""
    )
    by_severity = {t["name"]: t for t in traces}
    for severity in ("high", "medium", "low"):
        want = org.findings(FindingFilter(severity=severity))
        if not want:
            assert f"{severity} finding" not in by_severity
            continue
        got = by_severity[f"{severity} finding"]
        assert got["n"] == len(want)
        assert sorted(got["rules"]) == sorted(f.rule for f in want)
    assert page.locator("#replay-activity .scatterlayer .point").count() == len(org.findings())


def test_a_principal_link_opens_the_principals_findings_and_sessions(
    page: Page, dashboard_url: str, org: Queries
) -> None:
    # The staged findings all have a session; a finding about a principal alone links here.
    f = org.findings(FindingFilter(rule="console-without-mfa"))[0]
    principal = f.principal_arn
    assert principal is not None
    page.goto(dashboard_url + "investigate?principal=" + principal)
    page.wait_for_selector("#investigate-findings", timeout=TIMEOUT)
    about = org.findings(FindingFilter(principal_arn=principal))
    rules = page.locator("#investigate-findings tbody tr td:first-child").all_inner_texts()
    assert rules == [x.rule for x in about] and "console-without-mfa" in rules
    evidence = page.locator("#investigate-findings tbody tr td:last-child").all_inner_texts()
    assert evidence == [", ".join(x.evidence) for x in about]
    total, _ = org.sessions_of(SessionFilter(principal=principal), limit=1)
    assert total > 0
    headings = page.locator("#investigate-result h3").all_inner_texts()
    assert f"{principal}: {total} session(s), newest first" in headings
    assert page.locator("#investigate-query").input_value() == principal
