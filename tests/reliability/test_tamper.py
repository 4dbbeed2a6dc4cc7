"""Tamper evidence: modify, delete or insert one stored event (or fact row) and `verify`
names the first bad position; a digest kept earlier catches a chain forged from scratch."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.codec import default_codec
from pipeline.events import EventSource
from pipeline.evidence import digest, verify
from pipeline.evidence.chain import digest_document
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import Store
from pipeline.store.writer import GENESIS, chain_link
from pipeline.timeutil import parse_time

SIM = list(simulate(SimulationConfig(start=parse_time("2026-01-05"), days=1, seed=5)))
Tamper = Callable[[duckdb.DuckDBPyConnection], tuple[int, int] | None]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("tamper")
    log = FileLog(base / "log", partitions=3, fsync=False)
    log.append(SIM)
    with Store(base / "db.duckdb") as store:
        materialize(log, store, batch_size=500)
    log.close()
    return base / "db.duckdb"


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "db.duckdb"
    shutil.copy(template, copy)
    return copy


def _middle(con: duckdb.DuckDBPyConnection, partition: int = 1) -> tuple[int, str, bytes]:
    rows = con.execute(
        'SELECT "offset", event_id, body FROM events WHERE partition = ? ORDER BY "offset"',
        [partition],
    ).fetchall()
    offset, event_id, body = rows[len(rows) // 2]
    return int(offset), str(event_id), bytes(body)


def _next_offset(con: duckdb.DuckDBPyConnection, partition: int, after: int) -> int:
    row = con.execute(
        'SELECT min("offset") FROM events WHERE partition = ? AND "offset" > ?',
        [partition, after],
    ).fetchone()
    assert row is not None
    return int(row[0])


def modify_body(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    offset, event_id, body = _middle(con)
    forged = body.replace(b"111122223333", b"999999999999") if b"1111" in body else body + b"x"
    forged = forged if forged != body else body[:-1] + bytes([body[-1] ^ 1])
    con.execute("UPDATE events SET body = ? WHERE event_id = ?", [forged, event_id])
    return 1, offset


def modify_event_id(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    offset, event_id, _ = _middle(con)
    con.execute("UPDATE events SET event_id = 'forged' WHERE event_id = ?", [event_id])
    return 1, offset


def modify_event_time(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    offset, event_id, _ = _middle(con)
    con.execute(
        "UPDATE events SET event_time = event_time + INTERVAL 1 HOUR WHERE event_id = ?",
        [event_id],
    )
    return 1, offset


def delete_middle(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    offset, event_id, _ = _middle(con)
    con.execute("DELETE FROM events WHERE event_id = ?", [event_id])
    return 1, _next_offset(con, 1, offset)  # the first row whose chain no longer links


def delete_last(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    row = con.execute('SELECT max("offset") FROM events WHERE partition = 2').fetchone()
    assert row is not None
    con.execute('DELETE FROM events WHERE partition = 2 AND "offset" = ?', [row[0]])
    return 2, int(row[0])


def insert_between(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    offset, _, body = _middle(con)
    nxt = _next_offset(con, 1, offset)
    (prev,) = con.execute(  # type: ignore[misc]
        'SELECT chain_hash FROM events WHERE partition = 1 AND "offset" = ?', [offset]
    ).fetchone()
    log_name = con.execute("SELECT any_value(log_name) FROM events").fetchone()[0]  # type: ignore[index]
    # an event that never was on the log, at an offset between two real ones (or a
    # second event at an existing offset), its hash correctly linked to the previous one
    at = offset + 1 if nxt > offset + 1 else nxt
    con.execute(
        "INSERT INTO events SELECT log_name, partition, ?, 'inserted', event_type, event_time, "
        'account_id, body, ?, id_hash FROM events WHERE partition = 1 AND "offset" = ?',
        [at, chain_link(bytes(prev), log_name, 1, at, body), offset],
    )
    return 1, at if at != nxt else nxt


def insert_at_end(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    last, head = con.execute(  # type: ignore[misc]
        "SELECT last_offset, head FROM chain_heads WHERE partition = 0"
    ).fetchone()
    log_name = con.execute("SELECT any_value(log_name) FROM events").fetchone()[0]  # type: ignore[index]
    body = con.execute(
        'SELECT body FROM events WHERE partition = 0 AND "offset" = ?', [last]
    ).fetchone()[0]  # type: ignore[index]
    con.execute(  # a correctly linked new last event, but the chain head was not moved
        "INSERT INTO events SELECT log_name, partition, ?, 'appended', event_type, event_time, "
        'account_id, body, ?, id_hash FROM events WHERE partition = 0 AND "offset" = ?',
        [last + 1, chain_link(bytes(head), log_name, 0, last + 1, bytes(body)), last],
    )
    return 0, last + 1


EVENT_TAMPERING = [
    modify_body,
    modify_event_id,
    modify_event_time,
    delete_middle,
    delete_last,
    insert_between,
    insert_at_end,
]


@pytest.mark.parametrize("tamper", EVENT_TAMPERING, ids=lambda f: f.__name__)
def test_verify_names_the_first_bad_position(db: Path, tamper: Tamper) -> None:
    with duckdb.connect(str(db)) as con:
        assert verify(con).intact
        expected = tamper(con)
        verdict = verify(con)
    assert not verdict.intact
    first = verdict.first
    assert first is not None and expected is not None
    assert (first.partition, first.offset) == expected, first.line()
    if tamper not in (delete_last, insert_at_end):  # a head finding names no stored event
        assert first.event_id is not None


def _forge_whole_chain(con: duckdb.DuckDBPyConnection) -> None:
    """What a careful forger does after editing a body: recompute every hash and head."""
    rows = con.execute(
        'SELECT log_name, partition, "offset", event_id, body FROM events '
        'ORDER BY log_name, partition, "offset"'
    ).fetchall()
    heads: dict[tuple[str, int], bytes] = {}
    for log_name, p, o, event_id, body in rows:
        h = chain_link(heads.get((log_name, p), GENESIS), log_name, p, o, bytes(body))
        heads[(log_name, p)] = h
        con.execute("UPDATE events SET chain_hash = ? WHERE event_id = ?", [h, event_id])
    for (log_name, p), h in heads.items():
        con.execute(
            "UPDATE chain_heads SET head = ? WHERE log_name = ? AND partition = ?",
            [h, log_name, p],
        )


def test_a_forged_chain_passes_alone_but_not_against_a_kept_digest(db: Path) -> None:
    with duckdb.connect(str(db)) as con:
        kept = digest(con)
        _, event_id, body = _middle(con)
        codec = default_codec()
        event = codec.decode(body)
        other = EventSource.API if event.source is not EventSource.API else EventSource.SIMULATOR
        forged = codec.encode(event.model_copy(update={"source": other}))
        con.execute("UPDATE events SET body = ? WHERE event_id = ?", [forged, event_id])
        _forge_whole_chain(con)
        assert verify(con).intact  # the chain alone cannot tell
        verdict = verify(con, against=kept)
    assert not verdict.intact and verdict.first is not None
    assert verdict.first.partition == 1
    assert "digest" in verdict.first.what


def test_newer_events_are_fine_against_an_older_digest(tmp_path: Path) -> None:
    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    log.append(SIM[:300])
    with Store(tmp_path / "db.duckdb") as store:
        materialize(log, store)
        kept = digest(store.con)
        log.append(SIM[300:600])
        materialize(log, store)
        assert verify(store.con, against=kept).intact
        assert digest(store.con) != kept
    log.close()


def _first_event_id(con: duckdb.DuckDBPyConnection, table: str) -> str:
    return str(con.execute(f"SELECT min(event_id) FROM {table}").fetchone()[0])  # type: ignore[index]  # noqa: S608


def fact_modified(con: duckdb.DuckDBPyConnection) -> str:
    eid = _first_event_id(con, "actions")
    con.execute("UPDATE actions SET action = 'iam:PassRole' WHERE event_id = ?", [eid])
    return "actions"


def fact_deleted(con: duckdb.DuckDBPyConnection) -> str:
    eid = _first_event_id(con, "credentials")
    con.execute("DELETE FROM credentials WHERE event_id = ?", [eid])
    return "credentials"


def fact_inserted(con: duckdb.DuckDBPyConnection) -> str:
    eid = _first_event_id(con, "policy_changes")
    con.execute(
        "INSERT INTO policy_changes SELECT 'forged', * EXCLUDE (event_id) FROM policy_changes "
        "WHERE event_id = ?",
        [eid],
    )
    return "policy_changes"


def session_modified(con: duckdb.DuckDBPyConnection) -> str:
    con.execute(
        "UPDATE sessions SET role_arn = 'arn:aws:iam::111122223333:role/Nothing' "
        "WHERE session_id = (SELECT min(session_id) FROM sessions)"
    )
    return "sessions"


@pytest.mark.parametrize(
    "tamper",
    [fact_modified, fact_deleted, fact_inserted, session_modified],
    ids=lambda f: f.__name__,
)
def test_deep_verify_names_the_table_and_row(
    db: Path, tamper: Callable[[duckdb.DuckDBPyConnection], str]
) -> None:
    with duckdb.connect(str(db)) as con:
        assert verify(con, deep=True).intact
        table = tamper(con)
        assert verify(con).intact  # the chain covers events; facts need the deep check
        verdict = verify(con, deep=True)
    assert verdict.first is not None and verdict.first.table == table, verdict.summary()


def test_cli_verify_and_digest(db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", "--db", str(db)])
    assert ok.exit_code == 0 and ok.output.startswith("intact:"), ok.output
    heads = runner.invoke(main, ["digest", "--db", str(db), "--json"])
    assert heads.exit_code == 0
    doc = json.loads(heads.output)
    assert doc["format"] == "rolecall-digest/2" and len(doc["heads"]) == 3
    (tmp_path / "heads.json").write_text(heads.output)
    plain = runner.invoke(main, ["digest", "--db", str(db)])
    assert len(plain.output.splitlines()) == 3
    with duckdb.connect(str(db)) as con:
        partition, offset = delete_middle(con)
    bad = runner.invoke(
        main, ["verify", "--db", str(db), "--against", str(tmp_path / "heads.json")]
    )
    assert bad.exit_code == 1
    assert len(bad.output.strip().splitlines()) == 1
    assert bad.output.startswith("tampered:") and f"partition {partition}, offset {offset}" in (
        bad.output
    )
    as_json = runner.invoke(main, ["verify", "--db", str(db), "--json"])
    assert as_json.exit_code == 1 and json.loads(as_json.output)["intact"] is False
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{}")
    r = runner.invoke(main, ["verify", "--db", str(db), "--against", str(garbage)])
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit)


def test_digest_document_round_trips(db: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from pipeline.evidence import load_digest

    with duckdb.connect(str(db), read_only=True) as con:
        heads = digest(con)
    path = tmp_path / "d.json"
    path.write_text(json.dumps(digest_document(heads, datetime.now(UTC))))
    assert load_digest(path).heads == heads
