"""How long one step of the Replay page takes the server on a million sessions.

Builds a store of synthetic sessions directly with DuckDB SQL (faster than simulating
and materializing a million; the rows have the shapes the materializer writes: chained
sessions whose caller key is another session's key, SAML and service origins, exits and
role revocations), then times what the Replay callback asks DuckDB for: on each slider
move, the sessions active at a random moment (with a random filter half the time); on
each filter change, the activity aggregate over the whole history (the page caches it
per filter and data version, so a slider move does not recompute it). Prints medians
and p95s.

    python -m bench.dashboard_replay --sessions 1000000 --moments 200

And in a real browser (Playwright driving Debian's Chromium, /usr/bin/chromium): from a
click on "step ▶" to the Replay table painted with the new moment's sessions (the
summary names the moment; two animation frames after it changed), on the demo's
simulated organization and on the million-session store:

    python -m bench.dashboard_replay --browser --db /tmp/store.duckdb --steps 40
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from bench.results import Result
from pipeline.queries import Queries
from pipeline.replay import SessionFilter
from pipeline.store import Store
from pipeline.timeutil import iso, parse_time

START = datetime(2026, 1, 1, tzinfo=UTC)
ROLES = 40
OKTA = "arn:aws:iam::111122223333:saml-provider/Okta"
ACCOUNTS = ["111122223333", "444455556666", "777788889999"]

SYNTHESIZE = """
INSERT INTO sessions (
    session_id, pref, account_id, role_arn, session_name, session_arn, via, caller_arn,
    caller_type, caller_access_key_id, source_identity, session_tags, transitive_tag_keys,
    session_policy, session_policy_arns, mfa_authenticated, source_ip, user_agent,
    requested_duration_seconds, lifecycle_key, start_estimated, assumed_at, first_issued_at,
    latest_issued_at, expires_at, exited_at, exit_reason, console_exited_at, access_key_ids,
    first_used_at, last_used_at, started_at, expiry_at, expiry_basis, base_ends_at)
SELECT
    'ASIA' || lpad(i::VARCHAR, 16, '0') AS session_id,
    'assume' AS pref,
    $accounts[1 + i % 3] AS account_id,
    'arn:aws:iam::' || $accounts[1 + i % 3] || ':role/Role' || (i % $roles) AS role_arn,
    'session' || i AS session_name,
    NULL AS session_arn,
    CASE WHEN i % 10 < 3 THEN 'SAML' WHEN i % 10 < 5 THEN 'AWS_SERVICE'
         ELSE 'ASSUME_ROLE' END AS via,
    CASE WHEN i % 10 < 3 THEN 'arn:aws:iam::111122223333:saml-provider/Okta#user'
                              || (i % 5000) || '@acme.example'
         WHEN i % 10 < 5 THEN 'ec2.amazonaws.com'
         ELSE 'arn:aws:iam::111122223333:user/user' || (i % 2000) END AS caller_arn,
    CASE WHEN i % 10 < 3 THEN 'SAMLUser' WHEN i % 10 < 5 THEN 'AWSService'
         ELSE 'IAMUser' END AS caller_type,
    -- Every fourth assumed-role session is chained from a session started shortly before.
    CASE WHEN i % 10 >= 5 AND i % 4 = 0 AND i > 20
         THEN 'ASIA' || lpad((i - 7)::VARCHAR, 16, '0') END AS caller_access_key_id,
    NULL, NULL, [], NULL, [], true, '198.51.100.7', 'aws-cli/2.15.0',
    dur AS requested_duration_seconds,
    NULL AS lifecycle_key,
    false AS start_estimated,
    t AS assumed_at, t AS first_issued_at, t AS latest_issued_at,
    t + to_seconds(dur) AS expires_at,
    CASE WHEN i % 17 = 0 THEN t + to_seconds(dur // 3) END AS exited_at,
    CASE WHEN i % 17 = 0 THEN 'EXIT' END AS exit_reason,
    NULL AS console_exited_at,
    ['ASIA' || lpad(i::VARCHAR, 16, '0')] AS access_key_ids,
    NULL AS first_used_at, NULL AS last_used_at,
    t AS started_at,
    t + to_seconds(dur) AS expiry_at, 'recorded' AS expiry_basis,
    CASE WHEN i % 17 = 0 THEN t + to_seconds(dur // 3) ELSE t + to_seconds(dur) END
        AS base_ends_at
FROM (
    SELECT i,
           $start::TIMESTAMP + to_microseconds((i * $step)::BIGINT) AS t,
           CASE WHEN i % 10 < 3 THEN 28800 WHEN i % 10 < 5 THEN 21600
                WHEN i % 7 = 0 THEN 900 ELSE 3600 END AS dur
    FROM range($n) r(i)
)
"""

CREDENTIALS = """
INSERT INTO credentials
SELECT 'ct:' || session_id, first_issued_at, account_id, 'SIMULATOR', session_id,
       session_id, first_issued_at, expires_at
FROM sessions
"""


def build(path: Path, sessions: int, days: int) -> None:
    with Store(path) as store:
        step = days * 86_400 * 1_000_000 / sessions
        store.con.execute(
            SYNTHESIZE,
            {
                "accounts": ACCOUNTS,
                "roles": ROLES,
                "start": START.replace(tzinfo=None),
                "step": step,
                "n": sessions,
            },
        )
        store.con.execute(CREDENTIALS)
        for k in range(12):  # a revocation on some role every week or so
            at = START + timedelta(days=k * days / 12 + 1)
            store.con.execute(
                "INSERT INTO revocations VALUES (?, ?, ?, 'API', ?, ?)",
                [
                    f"rev{k}",
                    at.replace(tzinfo=None),
                    ACCOUNTS[k % 3],
                    f"arn:aws:iam::{ACCOUNTS[k % 3]}:role/Role{k}",
                    at.replace(tzinfo=None),
                ],
            )
        store.derive_chains_and_ends()  # chains, origins and ends, as the writer stores them
        store.con.execute("CHECKPOINT")


def moment_sessions(q: Queries, at: datetime, flt: SessionFilter) -> int:
    """What a slider move asks DuckDB for: the sessions active then (first 200, and the count)."""
    return q.active_sessions(at, flt, limit=200).total


def history_activity(q: Queries, flt: SessionFilter) -> int:
    """The activity over the whole history (asked again only when a filter changes)."""
    span = q.time_range()
    assert span is not None
    return len(q.timeline(span[0], span[1] + timedelta(minutes=1), flt, max_bars=0).buckets)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def figures(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {
        "median_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))] * 1000, 1),
        "max_ms": round(times[-1] * 1000, 1),
    }


def _step(q: Queries, at: datetime, flt: SessionFilter, actives: list[int]) -> None:
    actives.append(moment_sessions(q, at, flt))


def measure(path: Path, sessions: int, days: int, moments: int) -> dict[str, object]:
    """Slider steps and filter changes on a store of `sessions` synthetic sessions."""
    if not path.exists():
        build(path, sessions, days)
    rng = random.Random(6)
    filters = [
        SessionFilter(),
        SessionFilter(role_arn="arn:aws:iam::444455556666:role/Role1"),
        SessionFilter(via="SAML"),
        SessionFilter(principal=f"{OKTA}#user42@acme.example"),
        SessionFilter(account_id="777788889999"),
    ]
    with Queries.open(path) as q:
        moment_sessions(q, START + timedelta(days=1), SessionFilter())  # warm the caches
        steps: list[float] = []
        actives: list[int] = []
        for k in range(moments):
            at = START + timedelta(seconds=rng.randrange(days * 86_400))
            flt = filters[0] if k % 2 == 0 else rng.choice(filters[1:])
            steps.append(timed(partial(_step, q, at, flt, actives)))
        aggregates = [timed(partial(history_activity, q, f)) for f in filters for _ in range(3)]
    return {
        "sessions": sessions,
        "moments": moments,
        "mean_active_sessions": round(statistics.mean(actives)),
        "slider_step": figures(steps),
        "history_activity_per_filter_change": figures(aggregates),
    }


BROWSER_STEPS = 30
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# In the page: click "step ▶", wait until the summary names the expected moment, then two
# animation frames (the table is painted), and answer the milliseconds it took.
STEP_AND_PAINT = """
async (expected) => {
  const t0 = performance.now();
  const done = () => {
    const s = document.querySelector('#replay-summary');
    return s !== null && s.innerText.includes(expected)
      && document.querySelector('#replay-sessions, #replay-table p') !== null;
  };
  document.getElementById('replay-forward').click();
  await new Promise((resolve) => {
    if (done()) { resolve(); return; }
    const watch = new MutationObserver(() => { if (done()) { watch.disconnect(); resolve(); } });
    watch.observe(document.getElementById('page'),
                  {subtree: true, childList: true, characterData: true});
  });
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t0;
}
"""


def _count(flight: dict[str, int], what: str, url: str) -> None:
    if "_dash-update-component" in url:
        flight[what] += 1


def browser_steps(db: Path, steps: int, *, start: str = "") -> dict[str, float]:
    """`steps` clicks on "step ▶" in Chromium, each timed from the click to the painted
    table (the dashboard served from this process, as `rolecall dashboard` serves it)."""
    from playwright.sync_api import sync_playwright

    from dashboards.server import DashboardServer
    from dashboards.source import QuerySource

    source = QuerySource.open_read_only(db)
    server = DashboardServer(source, host="127.0.0.1", port=0).start()
    times: list[float] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            # Callback requests in flight: the server is stopped only once none is, so no
            # query is cut off in a server thread.
            flight = {"sent": 0, "done": 0}
            page.on("request", lambda r: _count(flight, "sent", r.url))
            page.on("requestfinished", lambda r: _count(flight, "done", r.url))
            page.on("requestfailed", lambda r: _count(flight, "done", r.url))
            page.goto(server.url + (f"?at={start}" if start else ""))
            page.wait_for_selector("#replay-summary:has-text('active at')", timeout=120_000)
            page.wait_for_selector("#replay-activity .js-plotly-plot", timeout=120_000)
            for _ in range(steps + 2):  # the first two warm the caches and are not counted
                current = parse_time(page.input_value("#replay-at"))
                expected = iso(current + timedelta(minutes=5))
                ms = page.evaluate(STEP_AND_PAINT, f"active at {expected}")
                times.append(float(ms) / 1000)
            deadline = time.monotonic() + 120
            while flight["done"] < flight["sent"] and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            browser.close()
    finally:
        server.stop()
        source.close()
    return figures(times[2:])


def demo_store(scratch: Path) -> Path:
    """The demo's database, made as `rolecall demo --no-serve` makes it (3 days, seed 7)."""
    data = scratch / "dashboard-demo"
    db = data / "rolecall.duckdb"
    if not db.exists():
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from pipeline.cli import main; main()",
                "demo",
                "--no-serve",
                "--data",
                str(data),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return db


def run(scratch: Path, sessions: int = 1_000_000, moments: int = 200) -> list[Result]:
    out = measure(scratch / f"dashboard-{sessions}.duckdb", sessions, 90, moments)
    step = out["slider_step"]
    change = out["history_activity_per_filter_change"]
    assert isinstance(step, dict) and isinstance(change, dict)
    size = f"{sessions:,} sessions"
    note = f"{moments} moments, ~{out['mean_active_sessions']:,} sessions active per moment"
    demo = browser_steps(demo_store(scratch), BROWSER_STEPS)
    large = browser_steps(
        scratch / f"dashboard-{sessions}.duckdb", BROWSER_STEPS, start="2026-02-01T12:00:00Z"
    )
    browser = "Chromium, click on step ▶ to the table painted"
    return [
        Result(
            name="dashboard step in the browser median (demo)",
            value=demo["median_ms"],
            unit="ms",
            goal="value <= 300",
            notes=f"{browser}; {BROWSER_STEPS} steps, p95 {demo['p95_ms']} ms",
        ),
        Result(
            name=f"dashboard step in the browser median ({size})",
            value=large["median_ms"],
            unit="ms",
            goal="value <= 1000",
            notes=f"{browser}; {BROWSER_STEPS} steps, p95 {large['p95_ms']} ms",
        ),
        Result(
            name=f"dashboard slider step median ({size})",
            value=step["median_ms"],
            unit="ms",
            notes=note,
        ),
        Result(name=f"dashboard slider step p95 ({size})", value=step["p95_ms"], unit="ms"),
        Result(
            name=f"dashboard filter change median ({size})",
            value=change["median_ms"],
            unit="ms",
            notes="re-aggregates the whole history's activity chart",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--moments", type=int, default=200)
    parser.add_argument("--db", type=Path, help="reuse (or keep) this store")
    parser.add_argument("--browser", action="store_true", help="time steps in Chromium")
    parser.add_argument("--steps", type=int, default=BROWSER_STEPS)
    parser.add_argument("--at", default="", help="the moment the browser starts at")
    args = parser.parse_args()
    if args.browser:
        print(json.dumps(browser_steps(args.db, args.steps, start=args.at)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.duckdb"
        print(json.dumps(measure(path, args.sessions, args.days, args.moments)))


if __name__ == "__main__":
    main()
