"""The embedded file log: the shared contract, then torn writes and damage."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.errors import LogError
from pipeline.log import FileLog as RealFileLog
from pipeline.log import open_log
from pipeline.log.base import DamagedSpan, EventLog, LogRecord
from pipeline.log.filelog import HEADER_SIZE, encode_record, partition_for
from pipeline.log.packed import pack
from tests import builders as b
from tests.log_contract import LogContract, drain


class TestFileLogContract(LogContract):
    @pytest.fixture
    def log(self, tmp_path: Path) -> Iterator[EventLog]:
        log = FileLog(tmp_path / "log", partitions=self.partitions, fsync=False)
        yield log
        log.close()


_open: list[FileLog] = []


@pytest.fixture(autouse=True)
def _close_logs() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def FileLog(*args: object, **kw: object) -> RealFileLog:
    log = RealFileLog(*args, **kw)  # type: ignore[arg-type]
    _open.append(log)
    return log


def _one_partition_log(path: Path, n: int, **kw: object) -> RealFileLog:
    log = FileLog(path, partitions=1, fsync=False, **kw)
    log.append([b.assumed(f"ASIA{i:04d}", "R", i, event_id=f"e{i}") for i in range(n)])
    log.close()
    return FileLog(path)


def _segment(path: Path) -> Path:
    return sorted((path / "p000").glob("*.seg"))[0]


def test_partitioner_is_stable() -> None:
    assert partition_for(b"ASIAEXAMPLE", 4) == partition_for(b"ASIAEXAMPLE", 4)
    assert {partition_for(f"k{i}".encode(), 4) for i in range(100)} == {0, 1, 2, 3}


def test_appended_records_are_encode_records_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The append writes `encode_record`'s timed frames (it inlines them for speed), on
    `partition_for`'s partitions, at consecutive offsets, across segments and appends."""
    monkeypatch.setattr("pipeline.log.filelog.time.time_ns", lambda: 1_700_000_000_123_456_000)
    rng = random.Random(7)
    messages = [
        (
            None if i % 11 == 0 else b"" if i % 13 == 0 else f"ASIA{rng.randrange(10**6)}".encode(),
            rng.randbytes(rng.randrange(0, 700)),
            "RoleAssumed",
        )
        for i in range(300)
    ]
    log = FileLog(tmp_path / "log", partitions=3, fsync=False, segment_bytes=4000)
    log.append_encoded(messages[:120])
    log.append_encoded(messages[120:])
    log.close()
    expected: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    for key, value, _type in messages:
        p = partition_for(key, 3)
        expected[p].append(encode_record(len(expected[p]), key, value, 1_700_000_000_123_456))
    for p, frames in expected.items():
        segments = sorted((tmp_path / "log" / f"p{p:03d}").glob("*.seg"))
        assert b"".join(s.read_bytes() for s in segments) == b"".join(frames)
        assert len(segments) > 1


def test_reopen_keeps_records_and_continues_offsets(tmp_path: Path) -> None:
    log = _one_partition_log(tmp_path / "log", 5)
    log.append([b.assumed("ASIANEW", "R", 9, event_id="new")])
    items = drain(log)
    assert [i.offset for i in items] == [0, 1, 2, 3, 4, 5]


def test_torn_tail_is_cut_on_reopen_and_earlier_records_kept(tmp_path: Path) -> None:
    path = tmp_path / "log"
    _one_partition_log(path, 10).close()
    seg = _segment(path)
    data = seg.read_bytes()
    seg.write_bytes(data[:-7])  # a crash in the middle of writing the last record
    reader = FileLog(path)
    # no writer is active: the tail can only be cut, so it is damage at once
    items = drain(reader)
    assert [i.offset for i in items if isinstance(i, LogRecord)] == list(range(9))
    [tail] = [i for i in items if isinstance(i, DamagedSpan)]
    assert (tail.start, tail.end) == (9, 10) and "no writer active" in tail.reason
    writer = FileLog(path)
    writer.append([b.assumed("ASIAAFTER", "R", 1, event_id="after")])
    assert writer.recovered and "torn tail" in writer.recovered[0].reason
    items = drain(writer)
    # the cut record's offset is a gap, never reused: a reader may have consumed it
    assert [i.offset if isinstance(i, LogRecord) else (i.start, i.end) for i in items] == [
        *range(9),
        (9, 10),
        10,
    ]
    assert isinstance(items[-1], LogRecord)
    assert writer.codec.decode(items[-1].value).event_id == "after"


def test_a_torn_tail_under_an_active_writer_is_waited_for(tmp_path: Path) -> None:
    """While another process holds the log for writing, bytes that do not read yet may be
    a record being written: the reader stops quietly before them."""
    import fcntl

    path = tmp_path / "log"
    _one_partition_log(path, 10).close()
    seg = _segment(path)
    seg.write_bytes(seg.read_bytes()[:-7])
    with open(path / ".write.lock", "ab") as other_writer:
        fcntl.flock(other_writer, fcntl.LOCK_EX | fcntl.LOCK_NB)
        items = drain(FileLog(path))
    assert [i.offset for i in items if isinstance(i, LogRecord)] == list(range(9))
    assert not [i for i in items if isinstance(i, DamagedSpan)]


def test_flipped_byte_is_reported_with_its_exact_offset(tmp_path: Path) -> None:
    path = tmp_path / "log"
    _one_partition_log(path, 10).close()
    seg = _segment(path)
    data = bytearray(seg.read_bytes())
    record_size = len(data) // 10
    data[4 * record_size + HEADER_SIZE + 5] ^= 0xFF  # a byte inside record 4's body
    seg.write_bytes(bytes(data))
    items = drain(FileLog(path))
    damaged = [i for i in items if isinstance(i, DamagedSpan)]
    assert [(d.start, d.end) for d in damaged] == [(4, 5)]
    assert "checksum" in damaged[0].reason
    assert [i.offset for i in items if isinstance(i, LogRecord)] == [0, 1, 2, 3, 5, 6, 7, 8, 9]


def test_a_record_whose_magic_flips_to_a_gap_is_damage_not_a_gap(tmp_path: Path) -> None:
    """Gap records (what a reopen cut) have their own magic; one flipped bit must not turn a
    record into a gap, whose end offset would then be read from the record's bytes."""
    path = tmp_path / "log"
    _one_partition_log(path, 10).close()
    seg = _segment(path)
    data = bytearray(seg.read_bytes())
    record_size = len(data) // 10
    data[3 * record_size + 1] ^= 0x01  # 0xD51E -> 0xD51F
    seg.write_bytes(bytes(data))
    items = drain(FileLog(path))
    assert [(i.start, i.end) for i in items if isinstance(i, DamagedSpan)] == [(3, 4)]
    assert "checksum" in next(i for i in items if isinstance(i, DamagedSpan)).reason
    assert len([i for i in items if isinstance(i, LogRecord)]) == 9


def test_flipped_length_is_caught_and_reading_resynchronises(tmp_path: Path) -> None:
    path = tmp_path / "log"
    _one_partition_log(path, 10).close()
    seg = _segment(path)
    data = bytearray(seg.read_bytes())
    record_size = len(data) // 10
    data[2 * record_size + 12] ^= 0x40  # the length field of record 2
    seg.write_bytes(bytes(data))
    items = drain(FileLog(path))
    assert [(i.start, i.end) for i in items if isinstance(i, DamagedSpan)] == [(2, 3)]
    assert len([i for i in items if isinstance(i, LogRecord)]) == 9


def test_missing_segment_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = FileLog(path, partitions=1, fsync=False, segment_bytes=1)  # one record per segment
    log.append([b.assumed(f"ASIA{i:04d}", "R", i, event_id=f"e{i}") for i in range(5)])
    log.close()
    segments = sorted((path / "p000").glob("*.seg"))
    assert len(segments) == 5
    segments[2].unlink()
    items = drain(FileLog(path))
    assert [(i.start, i.end) for i in items if isinstance(i, DamagedSpan)] == [(2, 3)]
    assert [i.offset for i in items if isinstance(i, LogRecord)] == [0, 1, 3, 4]


def test_segments_roll_and_read_across(tmp_path: Path) -> None:
    log = FileLog(tmp_path / "log", partitions=1, fsync=False, segment_bytes=2000)
    log.append([b.assumed(f"ASIA{i:04d}", "R", i, event_id=f"e{i}") for i in range(100)])
    assert len(list((tmp_path / "log" / "p000").glob("*.seg"))) > 5
    assert [i.offset for i in drain(log)] == list(range(100))
    assert [i.offset for i in drain(log, {0: 57})] == list(range(57, 100))


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    first = FileLog(tmp_path / "log", partitions=1)
    first.append([b.assumed("ASIA1", "R")])
    second = FileLog(tmp_path / "log")
    with pytest.raises(LogError, match="another process is writing"):
        second.append([b.assumed("ASIA2", "R")])
    first.close()
    second.append([b.assumed("ASIA2", "R")])
    second.close()


def test_log_urls(tmp_path: Path) -> None:
    assert isinstance(open_log(f"file:{tmp_path}/a"), RealFileLog)
    assert isinstance(open_log(str(tmp_path / "b")), RealFileLog)
    with pytest.raises(LogError, match=r"missing log\.json"):
        open_log(f"file:{tmp_path}/nothing", create=False)
    from pipeline.errors import InputError

    with pytest.raises(InputError, match="unknown log URL"):
        open_log("s3://bucket/x")


def test_packed_messages_append_as_their_triples_do(tmp_path: Path) -> None:
    """What an import worker packs (joined, without the spans the appending process
    drops, or packed for another partition count) is appended as the triples are."""
    messages = [
        (f"ASIA{i % 17}".encode(), bytes([i % 251]) * (i % 90), f"T{i % 3}") for i in range(400)
    ]
    first, second = pack(messages[:150], 4), pack(messages[150:], 4)
    first.extend(second)
    assert first.messages() == messages
    dropped = [(10, 20), (150, 151), (390, 400)]
    kept = [m for i, m in enumerate(messages) if not any(s <= i < e for s, e in dropped)]
    packed = first.without(dropped)
    assert packed.messages() == kept and packed.types == [t for _, _, t in kept]
    with pytest.raises(ValueError, match="3 partitions, not 4"):
        first.extend(pack(messages, 3))

    triples = FileLog(tmp_path / "triples", partitions=4, fsync=False)
    triples.append_encoded(kept)
    packs = FileLog(tmp_path / "packs", partitions=4, fsync=False)
    packs.append_packed(packed)
    other = FileLog(tmp_path / "other", partitions=4, fsync=False)
    other.append_packed(pack(kept, 3))  # placed for 3 partitions: placed anew for 4

    def stored(log: RealFileLog) -> list[tuple[int, int, bytes | None, bytes]]:
        records = [i for i in drain(log) if isinstance(i, LogRecord)]
        return sorted((i.partition, i.offset, i.key, i.value) for i in records)

    expected = stored(triples)
    assert len(expected) == len(kept)
    assert stored(packs) == expected and stored(other) == expected
