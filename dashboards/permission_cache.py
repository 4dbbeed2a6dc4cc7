"""The Replay table's permissions column, remembered between slider steps.

A session's permissions summary at T names the policies in force at T: it changes only
when the policy history does (a `PolicyChanged` event) or when T crosses the session's
own start or end. So a summary is kept per session, data version, policy epoch (how
many policy changes precede T) and where T lies in the session's lifetime; a step that
crosses none of these reuses it instead of evaluating the policies again.
"""

from __future__ import annotations

import bisect
import threading
import time
from datetime import datetime

from pipeline.queries import Queries, SessionView
from pipeline.timeutil import to_utc

PENDING = "being worked out…"  # shown until the summary is computed
_MAX = 50_000

_lock = threading.Lock()
_summaries: dict[tuple[str, int, int, int], str] = {}
_epochs: dict[int, list[datetime]] = {}


def _change_times(q: Queries, version: int) -> list[datetime]:
    with _lock:
        found = _epochs.get(version)
    if found is not None:
        return found
    rows = q.con.execute("SELECT DISTINCT event_time FROM policy_changes ORDER BY 1").fetchall()
    times = [to_utc(r[0]) for r in rows]
    with _lock:
        if len(_epochs) > 8:
            _epochs.clear()
        _epochs[version] = times
    return times


def _key(
    s: SessionView, at: datetime, version: int, changes: list[datetime]
) -> tuple[str, int, int, int]:
    place = 0 if at < s.started_at else (2 if at >= s.ends_at else 1)
    return (s.session_id, version, bisect.bisect_right(changes, at), place)


def summaries(
    q: Queries, at: datetime, sessions: list[SessionView], *, budget_s: float | None = None
) -> tuple[list[str], bool]:
    """Each session's summary at `at`, and whether all were worked out: with `budget_s`,
    the ones not cached are computed until the budget is spent, the rest are PENDING."""
    from pipeline import permissions  # the evaluator loads on the first table
    from pipeline.permissions.in_force import HistoryAt

    snapshot: HistoryAt | None = None  # the policy history at `at`, read once
    version = q.data_version()
    changes = _change_times(q, version)
    deadline = None if budget_s is None else time.perf_counter() + budget_s
    out: list[str] = []
    complete = True
    for s in sessions:
        key = _key(s, at, version, changes)
        with _lock:
            text = _summaries.get(key)
        if text is None:
            if deadline is not None and time.perf_counter() > deadline:
                out.append(PENDING)
                complete = False
                continue
            if snapshot is None:
                snapshot = HistoryAt(q.con, at)
            text = permissions.summary(
                permissions.session_permissions(q.con, s, at, history_at=snapshot)
            )
            with _lock:
                if len(_summaries) >= _MAX:
                    _summaries.clear()
                _summaries[key] = text
        out.append(text)
    return out, complete
