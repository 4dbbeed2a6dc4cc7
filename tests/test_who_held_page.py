"""who-held's page and full answer read the faster way are the plain answer (#16, point 3).

A page of a single file comes from one statement (the order, the page and the total from
the narrow columns, then the page's rows whole by row id), and the full answer from Arrow
columns sorted by Arrow. Both are compared here with the plain reading of the same
selection: `SessionReader.stream` (DuckDB sorting every wide row, converted row by row)
and `SessionReader.count`, at many moments of a simulated week, in both orders, at
offsets inside, at and past the end, with filters and with more ids than the index probes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from pipeline.queries import Queries
from pipeline.sessions import Order, Selection, SessionFilter, SessionReader, SessionView
from pipeline.simulator import SimulationConfig, simulate
from pipeline.timeutil import parse_time

SIMULATED = SimulationConfig(start=parse_time("2026-01-05"), days=2, seed=7, scale=4)
ORDERS: tuple[Order, ...] = ("started", "newest")


@pytest.fixture(scope="module")
def q(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Queries]:
    from pipeline.log import FileLog
    from pipeline.materializer import materialize
    from pipeline.store import Store

    root = tmp_path_factory.mktemp("page")
    log = FileLog(root / "log", partitions=4, fsync=False)
    log.append(simulate(SIMULATED))
    with Store(root / "db.duckdb") as s:
        materialize(log, s)
    log.close()
    with Queries.open(root / "db.duckdb") as queries:
        yield queries


def _moments(q: Queries) -> list[datetime]:
    span = q.time_range()
    assert span is not None
    step = (span[1] - span[0]) / 10
    # the first moment has nothing active yet; the last ones, long sessions only
    return [span[0] + step * i for i in range(11)]


def _dumps(views: list[SessionView]) -> list[tuple[dict[str, object], list[str]]]:
    return [(v.model_dump(mode="json"), v.ancestor_ids) for v in views]


def _same(fast: list[SessionView], plain: list[SessionView]) -> None:
    assert [v.session_id for v in fast] == [v.session_id for v in plain]
    assert _dumps(fast) == _dumps(plain)
    for view in fast:  # aware UTC, as the plain reading gives them
        for name in ("started_at", "ends_at", "expires_at", "exited_at", "revoked_at"):
            value = getattr(view, name)
            assert value is None or value.tzinfo is UTC, name


def test_the_full_answer_is_the_plain_answer_in_both_orders(q: Queries) -> None:
    reader: SessionReader = q.sessions
    rows = 0
    for at in _moments(q):
        for order in ORDERS:
            selection = Selection(at=at, order=order)
            plain = list(reader.stream(selection))
            page = reader.page(selection)
            assert page.total == len(plain) == reader.count(selection)
            _same(page.sessions, plain)
            rows += len(plain)
    assert rows > 1500  # the comparison covered many sessions


def test_each_page_and_its_total_are_the_plain_answer(q: Queries) -> None:
    reader: SessionReader = q.sessions
    pages = 0
    for at in _moments(q)[::2]:
        for order in ORDERS:
            selection = Selection(at=at, order=order)
            plain = list(reader.stream(selection))
            total = reader.count(selection)
            assert total == len(plain)
            for limit in (1, 7, 50):
                for offset in sorted({0, 3, max(total - 1, 0), total, total + 5}):
                    page = reader.page(selection, limit=limit, offset=offset)
                    assert (page.total, page.offset) == (total, offset)
                    _same(page.sessions, plain[offset : offset + limit])
                    pages += 1
            rest = reader.page(selection, offset=3)  # no limit: everything from the offset
            assert rest.total == total
            _same(rest.sessions, plain[3:])
    assert pages > 100


def test_who_held_pages_through_the_whole_answer(q: Queries) -> None:
    at = _moments(q)[5]
    every = q.who_held(at=at)
    assert len(every) > 50
    seen: list[SessionView] = []
    offset = 0
    while True:
        page = q.who_held_page(at=at, limit=40, offset=offset)
        assert page.total == len(every)
        if not page.sessions:
            break
        seen += page.sessions
        offset += len(page.sessions)
    _same(seen, every)


def test_filters_and_many_ids_read_alike(q: Queries) -> None:
    reader: SessionReader = q.sessions
    at = _moments(q)[5]
    every = q.who_held(at=at)
    role = next(v.role_arn for v in every if v.role_arn)
    account = every[0].account_id
    ids = [v.session_id for v in every][:100]  # more than the index probes: a scan
    for selection in (
        Selection(at=at, filter=SessionFilter(role_arn=role)),
        Selection(at=at, filter=SessionFilter(account_id=account), order="newest"),
        Selection(session_ids=ids),
        Selection(at=at, filter=SessionFilter(role_arn="arn:aws:iam::1:role/none")),
    ):
        plain = list(reader.stream(selection))
        _same(reader.page(selection).sessions, plain)
        first = reader.page(selection, limit=5)
        assert first.total == len(plain)
        _same(first.sessions, plain[:5])
    assert len(reader.page(Selection(session_ids=ids)).sessions) == len(ids)
