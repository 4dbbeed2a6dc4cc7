"""who-held's `--json` is the same text when orjson writes it (#16, point 3).

Scripts rely on that text: the list `json.dumps(indent=2)` writes of every view's JSON
form, in start order. Tags and names past ASCII (which `json` escapes and orjson does
not) must come out as `json` writes them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from pydantic_core import TzInfo

from pipeline.cli import main
from pipeline.events import Event
from pipeline.queries import Queries
from pipeline.timeutil import iso, to_utc
from tests import builders as b


def _events() -> list[Event]:
    return [
        *b.session("ASIAJSONPLAIN001", "Plain", 0, session_tags={"team": "red"}),
        *b.session("ASIAJSONACCENT01", "Accent", 1, session_tags={"équipe": "rouge-é"}),
        *b.session("ASIAJSONDELETE01", "Delete", 2, session_tags={"odd": "a\x7fb\x01c"}),
        *b.session("ASIAJSONCHAIN001", "Chain", 3, caller_key="ASIAJSONPLAIN001"),
        b.call("ASIAJSONPLAIN001", 70),
    ]


def _json_dumps_text(q: Queries, at: datetime, **page: int) -> str:
    """What `json.dumps(indent=2)` writes of the answer: the text scripts rely on."""
    views = q.who_held(at=at, **page)  # type: ignore[arg-type]
    return json.dumps([v.model_dump(mode="json") for v in views], indent=2) + "\n"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from pipeline.log import FileLog
    from pipeline.materializer import materialize
    from pipeline.store import Store

    root = tmp_path_factory.mktemp("json")
    log = FileLog(root / "log", partitions=4, fsync=False)
    log.append(_events())
    with Store(root / "db.duckdb") as s:
        materialize(log, s)
    log.close()
    return str(root / "db.duckdb")


@pytest.mark.parametrize("minute", [5, 65, 500])
def test_who_held_json_is_the_text_json_dumps_writes(db: str, minute: int) -> None:
    at = b.at(minute)
    r = CliRunner().invoke(main, ["who-held", "--at", iso(at) or "", "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    with Queries.open(db) as q:
        expected = _json_dumps_text(q, at)
        assert r.output == expected
        paged = CliRunner().invoke(
            main,
            ["who-held", "--at", iso(at) or "", "--db", db, "--json", "--limit", "2"],
        )
        assert paged.output == _json_dumps_text(q, at, limit=2)
    answer = json.loads(r.output)
    if minute == 5:  # the accented and odd tags were in the answer, as `json` escapes them
        assert {"équipe": "rouge-é"} in [s["session_tags"] for s in answer]
        assert "\\u00e9quipe" in r.output and "\\u007f" in r.output
    if minute == 500:
        assert r.output == "[]\n"


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 5, 12, 0),
        datetime(2026, 1, 5, 12, 0, 0, 5),
        datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
        datetime(2026, 1, 5, 12, 0, 0, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 1, 5, tzinfo=TzInfo(0)),
        datetime(2026, 1, 5, tzinfo=TzInfo(-3600)),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_iso_writes_what_it_wrote_before(value: datetime) -> None:
    utc = to_utc(value)
    spec = "microseconds" if utc.microsecond else "seconds"
    assert iso(value) == utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"
