"""`verify` covers the bookkeeping, a log the digest did not cover, and the log itself
(issue 18, findings 1 and 9).

Before: deleting every dead letter (or a conflict, or moving a position) left
`verify --deep --against` intact, back-dated sessions under a new log name passed
`--against`, and a store ahead of its log verified intact.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.events import Event, EventSource
from pipeline.evidence import Digest, digest, ledgers, store_meta, verify
from pipeline.log import FileLog
from pipeline.log.filelog import HEADER_SIZE
from pipeline.materializer import materialize
from pipeline.store import Store
from tests import builders as b


def _events(prefix: str, n: int, hour: int = 0) -> list[Event]:
    out: list[Event] = []
    for i in range(n):
        key = f"ASIA{prefix}{i:06d}"
        out += [
            b.assumed(key, "R", hour + i, event_id=f"{prefix}a{i}"),
            b.issued(key, hour + i, event_id=f"{prefix}c{i}"),
        ]
    return out


def _store(tmp: Path) -> tuple[Path, Path]:
    """A one-partition log with a damaged record (a dead letter) and a conflicting
    duplicate (a conflict), materialized."""
    log_dir, db = tmp / "log", tmp / "db.duckdb"
    log = FileLog(log_dir, partitions=1, fsync=False)
    events = _events("A", 10)
    forged = b.assumed("ASIAFORGED", "R", 3, event_id=events[0].event_id)  # same id, new body
    log.append([*events, forged, *_events("B", 2)])
    log.close()
    seg = sorted((log_dir / "p000").glob("*.seg"))[0]
    data = bytearray(seg.read_bytes())
    _magic, _offset, length, _crc = struct.unpack_from(">HQII", data, 0)
    second = HEADER_SIZE + length
    data[second + HEADER_SIZE + 4] ^= 0xFF  # inside record 1's body
    seg.write_bytes(bytes(data))
    log = FileLog(log_dir, create=False)
    with Store(db) as store:
        stats = materialize(log, store)
    log.close()
    assert stats.dead_letters == 1 and stats.conflicts == 1
    return log_dir, db


def _kept(db: Path) -> Digest:
    with duckdb.connect(str(db), read_only=True) as con:
        return Digest(digest(con), ledgers(con), store_meta(con))


def _delete_dead_letters(con: duckdb.DuckDBPyConnection) -> str:
    con.execute("DELETE FROM dead_letters")
    return "dead_letters"


def _edit_dead_letter_reason(con: duckdb.DuckDBPyConnection) -> str:
    con.execute("UPDATE dead_letters SET reason = 'nothing to see'")
    return "dead_letters"


def _delete_conflicts(con: duckdb.DuckDBPyConnection) -> str:
    con.execute("DELETE FROM conflicts")
    return "conflicts"


def _move_position_back(con: duckdb.DuckDBPyConnection) -> str:
    con.execute("UPDATE positions SET next_offset = 3")
    return "positions"


def _change_schema_version(con: duckdb.DuckDBPyConnection) -> str:
    con.execute("UPDATE store_meta SET value = '1' WHERE key = 'schema_version'")
    return "store_meta"


@pytest.mark.parametrize(
    "tamper",
    [
        _delete_dead_letters,
        _edit_dead_letter_reason,
        _delete_conflicts,
        _move_position_back,
        _change_schema_version,
    ],
    ids=lambda f: f.__name__,
)
def test_bookkeeping_changes_are_caught_against_a_digest(
    tmp_path: Path, tamper: Callable[[duckdb.DuckDBPyConnection], str]
) -> None:
    _, db = _store(tmp_path)
    kept = _kept(db)
    with duckdb.connect(str(db)) as con:
        assert verify(con, deep=True, against=kept).intact
        table = tamper(con)
        verdict = verify(con, deep=True, against=kept)
    assert not verdict.intact
    assert table in {f.table for f in verdict.findings}, verdict.summary()


def test_deleted_dead_letters_fail_the_cli_in_one_line(tmp_path: Path) -> None:
    _, db = _store(tmp_path)
    runner = CliRunner()
    heads = runner.invoke(main, ["digest", "--db", str(db), "--json"])
    assert heads.exit_code == 0
    (tmp_path / "heads.json").write_text(heads.output)
    assert json.loads(heads.output)["ledgers"][0]["dead_letters"] == 1
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM dead_letters")
    args = ["verify", "--deep", "--db", str(db), "--against", str(tmp_path / "heads.json")]
    r = runner.invoke(main, args)
    assert r.exit_code == 1
    [line] = r.output.strip().splitlines()
    assert line.startswith("tampered:") and "table dead_letters" in line, line


def test_bookkeeping_that_contradicts_itself_is_caught_without_a_digest(tmp_path: Path) -> None:
    _, db = _store(tmp_path)
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM positions")
        verdict = verify(con)
        assert verdict.first is not None and verdict.first.table == "positions"
    _, db2 = _store(tmp_path / "again")
    with duckdb.connect(str(db2)) as con:
        con.execute("DELETE FROM store_meta")
        assert {f.table for f in verify(con).findings} == {"store_meta"}


def test_a_log_the_digest_did_not_cover_is_caught(tmp_path: Path) -> None:
    """Back-dated sessions materialized from a new log after the digest was taken."""
    log_a = FileLog(tmp_path / "a", partitions=2, fsync=False)
    log_a.append(_events("A", 20, hour=100))
    with Store(tmp_path / "db.duckdb") as store:
        materialize(log_a, store)
        kept = Digest(digest(store.con), ledgers(store.con), store_meta(store.con))
        log_a.append(_events("N", 5, hour=200))  # newer events on a covered log: fine
        materialize(log_a, store)
        assert verify(store.con, against=kept).intact
        log_b = FileLog(tmp_path / "b", partitions=1, fsync=False)
        log_b.append(_events("OLD", 3, hour=0))  # back-dated, under a new log name
        materialize(log_b, store)
        verdict = verify(store.con, against=kept)
        log_b.close()
    log_a.close()
    assert not verdict.intact and verdict.first is not None
    assert verdict.first.log_name == log_b.name and "does not cover" in verdict.first.what


def test_verify_names_a_log_behind_its_store(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    log = FileLog(log_dir, partitions=1, fsync=False, segment_bytes=1000)
    log.append(_events("A", 20))
    with Store(tmp_path / "db.duckdb") as store:
        materialize(log, store)
    log.close()
    segments = sorted((log_dir / "p000").glob("*.seg"))
    first_lost = int(segments[-1].stem)
    segments[-1].unlink()
    runner = CliRunner()
    db = str(tmp_path / "db.duckdb")
    r = runner.invoke(main, ["verify", "--db", db, "--log", f"file:{log_dir}"])
    assert r.exit_code == 1
    [line] = r.output.strip().splitlines()
    assert f"partition 0, offset {first_lost}" in line
    assert f"offsets {first_lost}-39 consumed by the store are missing from the log" in line
    ok = runner.invoke(main, ["verify", "--db", db, "--log", f"file:{tmp_path / 'other'}"])
    assert ok.exit_code == 2 and "missing log.json" in ok.output  # a named log must exist


def test_an_intact_store_and_log_verify_with_the_log_checked(tmp_path: Path) -> None:
    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    log.append(_events("A", 10))
    with Store(tmp_path / "db.duckdb") as store:
        materialize(log, store)
    log.close()
    r = CliRunner().invoke(
        main, ["verify", "--db", str(tmp_path / "db.duckdb"), "--log", str(tmp_path / "log")]
    )
    assert r.exit_code == 0 and "log checked" in r.output, r.output


def _open_log(log_dir: Path) -> FileLog:
    return FileLog(log_dir, create=False)


@pytest.mark.parametrize(
    "tamper", [_delete_dead_letters, _edit_dead_letter_reason, _delete_conflicts]
)
def test_deep_verify_against_the_log_needs_no_digest(
    tmp_path: Path, tamper: Callable[[duckdb.DuckDBPyConnection], str]
) -> None:
    """Every consumed offset must be a stored event, a dead letter, a conflict or a
    duplicate: deleting dead letters or conflicts shows without a digest."""
    log_dir, db = _store(tmp_path)
    log = _open_log(log_dir)
    try:
        with duckdb.connect(str(db)) as con:
            verdict = verify(con, deep=True, log=log)
            assert verdict.intact and verdict.log_checked, verdict.summary()
            table = tamper(con)
            if table == "dead_letters" and tamper is _edit_dead_letter_reason:
                return  # a reworded reason still covers its offsets: the digest's job
            verdict = verify(con, deep=True, log=log)
    finally:
        log.close()
    assert verdict.first is not None and verdict.first.table == table, verdict.summary()


def test_deep_verify_against_the_log_catches_a_recomputed_chain(tmp_path: Path) -> None:
    """A forger who rewrites a stored event and recomputes every hash passes the chain
    check, but not the comparison with the log's bytes."""
    from pipeline.codec import default_codec
    from tests.reliability.test_tamper import _forge_whole_chain

    log_dir, db = _store(tmp_path)
    log = _open_log(log_dir)
    try:
        with duckdb.connect(str(db)) as con:
            offset, event_id, body = con.execute(
                'SELECT "offset", event_id, body FROM events ORDER BY "offset" LIMIT 1 OFFSET 5'
            ).fetchone()  # type: ignore[misc]
            codec = default_codec()
            event = codec.decode(bytes(body))
            other = EventSource.SIMULATOR if event.source is EventSource.API else EventSource.API
            forged = codec.encode(event.model_copy(update={"source": other}))
            con.execute("UPDATE events SET body = ? WHERE event_id = ?", [forged, event_id])
            _forge_whole_chain(con)
            assert verify(con).intact
            verdict = verify(con, deep=True, log=log)
    finally:
        log.close()
    assert verdict.first is not None and verdict.first.offset == offset, verdict.summary()
    assert "differs from the log" in verdict.first.what


def test_deep_verify_against_the_log_accepts_duplicates(tmp_path: Path) -> None:
    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    events = _events("A", 10)
    log.append(events + events[3:8])  # re-imported: duplicates are not stored again
    with Store(tmp_path / "db.duckdb") as store:
        stats = materialize(log, store)
        assert stats.duplicates == 5
        verdict = verify(store.con, deep=True, log=log)
    log.close()
    assert verdict.intact and verdict.log_checked, verdict.summary()
