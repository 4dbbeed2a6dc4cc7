"""Offsets are never reused, and a log behind its store is an error (issue 18, finding 1).

Before: a damaged last record was cut as a "torn tail" on reopen and its offset handed to
the next event, which a materializer that had read the old record skipped as applied;
and a deleted newest segment let the writer reuse every offset it held. Now the writer
keeps a write-ahead high-water mark and records what it cuts as a gap, and a store that
consumed offsets the log no longer holds stops `materialize` and fails `verify`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.errors import LogError
from pipeline.events import Event
from pipeline.log import FileLog
from pipeline.log.base import DamagedSpan, LogRecord
from pipeline.log.filelog import HEADER_SIZE, decode_high_water
from pipeline.materializer import materialize
from pipeline.store import Store
from tests import builders as b
from tests.log_contract import drain


def _events(prefix: str, n: int) -> list[Event]:
    return [b.assumed(f"ASIA{prefix}{i:06d}", "R", i, event_id=f"{prefix}{i}") for i in range(n)]


def _log(path: Path, events: list[Event], segment_bytes: int = 1000) -> None:
    log = FileLog(path, partitions=1, fsync=False, segment_bytes=segment_bytes)
    log.append(events)
    log.close()


def _segments(path: Path) -> list[Path]:
    return sorted((path / "p000").glob("*.seg"))


def _last_record(segment: Path) -> tuple[int, int, int]:
    """(offset, first byte, size) of a segment's last record."""
    buf, pos, last = segment.read_bytes(), 0, (0, 0, 0)
    while pos < len(buf):
        _magic, offset, length, _crc = struct.unpack_from(">HQII", buf, pos)
        last = (offset, pos, HEADER_SIZE + length)
        pos += HEADER_SIZE + length
    return last


def _materialize(log_dir: Path, db: Path) -> None:
    log = FileLog(log_dir, create=False)
    try:
        with Store(db) as store:
            materialize(log, store, batch_size=7)
    finally:
        log.close()


def _event_ids(db: Path) -> set[str]:
    with Store(db) as store:
        return {r[0] for r in store.con.execute("SELECT event_id FROM events").fetchall()}


def _dead(db: Path) -> list[tuple[int, int, str]]:
    with Store(db) as store:
        rows = store.con.execute(
            'SELECT "offset", end_offset, reason FROM dead_letters ORDER BY "offset"'
        ).fetchall()
    return [(int(o), int(e), str(r)) for o, e, r in rows]


def test_damaged_last_record_already_read_is_never_reused(tmp_path: Path) -> None:
    """The issue's reproduction: flip a byte in the last record after materializing, then
    import more. The new events must all arrive; a fresh store dead-letters the record."""
    log_dir, db = tmp_path / "log", tmp_path / "db.duckdb"
    first, more = _events("A", 30), _events("B", 5)
    _log(log_dir, first)
    _materialize(log_dir, db)
    last = _segments(log_dir)[-1]
    offset, start, size = _last_record(last)
    data = bytearray(last.read_bytes())
    data[start + size - 3] ^= 0x01
    last.write_bytes(bytes(data))

    writer = FileLog(log_dir, create=False, fsync=False)
    writer.append(more)
    writer.close()
    _materialize(log_dir, db)
    assert _event_ids(db) == {e.event_id for e in first + more}  # nothing skipped

    fresh = tmp_path / "fresh.duckdb"
    _materialize(log_dir, fresh)
    assert _event_ids(fresh) == {e.event_id for e in first[:-1] + more}
    [(dead_start, dead_end, reason)] = _dead(fresh)
    assert (dead_start, dead_end) == (offset, offset + 1)
    assert reason.startswith("damaged log: torn tail of") and "damaged last record" in reason


def test_high_water_mark_is_written_before_the_records(tmp_path: Path) -> None:
    log = FileLog(tmp_path / "log", partitions=2, fsync=False)
    log.append(_events("A", 20))
    nexts = decode_high_water((tmp_path / "log" / "high-water").read_bytes(), 2)
    assert nexts is not None and sum(nexts) == 20
    assert {p: n for p, n in enumerate(nexts)} == log.end_offsets()
    log.close()
    assert FileLog(tmp_path / "log").end_offsets() == dict(enumerate(nexts))


def test_offsets_handed_out_but_not_on_disk_become_a_gap(tmp_path: Path) -> None:
    """A crash after the high-water mark was written but before the records were."""
    log_dir = tmp_path / "log"
    _log(log_dir, _events("A", 5))
    log = FileLog(log_dir, create=False, fsync=False)
    log._open_for_writing()
    log._save_high_water({0: 9})  # the records 5..8 never reach the disk
    log.close()
    writer = FileLog(log_dir, create=False, fsync=False)
    writer.append(_events("B", 1))
    writer.close()
    items = drain(FileLog(log_dir, create=False))
    gaps = [(i.start, i.end) for i in items if isinstance(i, DamagedSpan)]
    assert gaps == [(5, 9)]
    assert [i.offset for i in items if isinstance(i, LogRecord)] == [0, 1, 2, 3, 4, 9]


def test_a_log_without_a_high_water_mark_still_never_reuses_a_cut_offset(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    _log(log_dir, _events("A", 5))
    (log_dir / "high-water").unlink()  # written by an older rolecall
    seg = _segments(log_dir)[-1]
    seg.write_bytes(seg.read_bytes()[:-2])
    writer = FileLog(log_dir, create=False, fsync=False)
    writer.append(_events("B", 1))
    writer.close()
    items = drain(FileLog(log_dir, create=False))
    assert [(i.start, i.end) for i in items if isinstance(i, DamagedSpan)] == [(4, 5)]
    assert [i.offset for i in items if isinstance(i, LogRecord)][-1] == 5


def _delete_newest(log_dir: Path) -> tuple[int, int]:
    """Delete the newest segment; the offsets it held."""
    segments = _segments(log_dir)
    first = int(segments[-1].stem)
    last = _last_record(segments[-1])[0]
    segments[-1].unlink()
    return first, last


def _truncate_newest(log_dir: Path) -> tuple[int, int]:
    """Cut the newest segment at a record boundary after its first record."""
    seg = _segments(log_dir)[-1]
    buf = seg.read_bytes()
    _magic, first, length, _crc = struct.unpack_from(">HQII", buf, 0)
    last = _last_record(seg)[0]
    seg.write_bytes(buf[: HEADER_SIZE + length])
    return first + 1, last


@pytest.mark.parametrize("damage", [_delete_newest, _truncate_newest], ids=lambda f: f.__name__)
def test_a_log_behind_its_store_is_an_error_on_materialize(tmp_path: Path, damage: object) -> None:
    log_dir, db = tmp_path / "log", tmp_path / "db.duckdb"
    _log(log_dir, _events("A", 40))
    _materialize(log_dir, db)
    start, end = damage(log_dir)  # type: ignore[operator]
    with pytest.raises(LogError, match=f"partition 0 .*offsets {start}-{end} are missing"):
        _materialize(log_dir, db)
    runner = CliRunner()
    r = runner.invoke(main, ["materialize", "--log", f"file:{log_dir}", "--db", str(db)])
    assert r.exit_code != 0 and isinstance(r.exception, SystemExit)  # no traceback
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and f"offsets {start}-{end} are missing" in lines[0], r.output
    assert "partition 0" in lines[0]


def test_the_writer_never_reuses_offsets_of_a_deleted_segment(tmp_path: Path) -> None:
    log_dir, db = tmp_path / "log", tmp_path / "db.duckdb"
    first = _events("A", 40)
    _log(log_dir, first)
    _materialize(log_dir, db)
    start, end = _delete_newest(log_dir)
    writer = FileLog(log_dir, create=False, fsync=False)
    more = _events("B", 3)
    writer.append(more)
    assert [(d.start, d.end) for d in writer.recovered] == [(start, end + 1)]
    writer.close()
    _materialize(log_dir, db)  # the gap is recorded: the log is no longer behind
    assert {e.event_id for e in more} <= _event_ids(db)


class _Crash(Exception):
    pass


def test_a_crash_between_the_cut_and_the_gap_reuses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer makes the end of what it cuts durable before cutting: a crash after the
    cut and before the gap record is written still never reuses the cut offset."""
    import pipeline.log.filelog as filelog

    log_dir = tmp_path / "log"
    _log(log_dir, _events("A", 5))
    (log_dir / "high-water").unlink()  # an older log: only the cut itself says anything
    seg = _segments(log_dir)[-1]
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0x01
    seg.write_bytes(bytes(data))

    def crash(*_args: object) -> bytes:
        raise _Crash

    monkeypatch.setattr(filelog, "encode_gap", crash)
    writer = FileLog(log_dir, create=False, fsync=False)
    with pytest.raises(_Crash):
        writer.append(_events("B", 1))
    writer.close()
    assert seg.stat().st_size < len(data)  # the tail was cut, no gap written
    monkeypatch.undo()
    writer = FileLog(log_dir, create=False, fsync=False)
    writer.append(_events("B", 1))
    writer.close()
    items = drain(FileLog(log_dir, create=False))
    assert [(i.start, i.end) for i in items if isinstance(i, DamagedSpan)] == [(4, 5)]
    assert [i.offset for i in items if isinstance(i, LogRecord)] == [0, 1, 2, 3, 5]
