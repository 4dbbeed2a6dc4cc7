"""Places where later query-API features plug into the dashboard without a page rewrite.

Each hook looks for a method on `Queries` and degrades to a placeholder when it is absent:
- `permissions_summary(session_id: str, at: datetime) -> str`: one short line per session
  in the Replay table (the permissions issue adds it).
- `who_could(action: str, resource: str, at: datetime) -> WhoCould`: the Investigate
  page's "who could do A on R at T".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pipeline.permissions import WhoCould
from pipeline.queries import Queries


def permissions_summary(q: Queries) -> Callable[[str, datetime], str]:
    found = getattr(q, "permissions_summary", None)
    if not callable(found):
        return lambda _session_id, _at: "-"

    def summary(session_id: str, at: datetime) -> str:
        return str(found(session_id, at))

    return summary


def who_could(q: Queries) -> Callable[[str, str, datetime], WhoCould] | None:
    found = getattr(q, "who_could", None)
    return found if callable(found) else None
