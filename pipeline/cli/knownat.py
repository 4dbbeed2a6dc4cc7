"""`--as-known-at K`: answer from the events ingested into the log up to K only.

Shared by `report`, `who-held`, `trace` and `session`. The store is rebuilt from the log
prefix (`pipeline.reports.known_at`); `ROLECALL_KNOWN_AT_CACHE=DIR` keeps the rebuilt
stores there, so asking again at the same moment is a plain query, and a later moment
extends the nearest earlier one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pipeline.cli.common import DEFAULT_LOG_URL, TIME

if TYPE_CHECKING:
    from pipeline.queries import Queries
    from pipeline.reports import KnownAt

F = TypeVar("F", bound=Callable[..., Any])


def known_at_options(func: F) -> F:
    func = click.option(
        "--as-known-at",
        "as_known_at",
        type=TIME,
        help="Answer from the events that had reached the log by this moment only (the "
        "store rebuilt from the log's prefix; --log names the log).",
    )(func)
    return click.option(
        "--log",
        "log_url",
        default=DEFAULT_LOG_URL,
        envvar="ROLECALL_LOG",
        show_default=True,
        show_envvar=True,
        help="The event log --as-known-at reads: file:DIR or kafka://HOST:PORT/TOPIC.",
    )(func)


@contextmanager
def answering(
    db_path: str, log_url: str, as_known_at: datetime | None
) -> Iterator[tuple[Queries, KnownAt | None]]:
    """The query API over the store, or over what the log held at `as_known_at`."""
    from pipeline.queries import Queries

    if as_known_at is None:
        with Queries.open(db_path) as q:
            yield q, None
        return
    from pipeline.log import open_log
    from pipeline.reports import known_queries

    cache = os.environ.get("ROLECALL_KNOWN_AT_CACHE") or None
    with (
        open_log(log_url, create=False) as event_log,
        known_queries(event_log, as_known_at, cache_dir=cache, current=db_path) as (q, known),
    ):
        yield q, known


def known_note(known: KnownAt | None) -> str | None:
    """The line that says an answer is as known at a moment, or None."""
    return None if known is None else f"As known at {known.at:%Y-%m-%dT%H:%M:%SZ}: {known.note}"
