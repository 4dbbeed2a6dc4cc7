"""The file log's straight-through read of healthy records (`clean_run`) yields exactly
what the general scan yields, whatever the damage, the record kinds, the resume point and
the poll sizes: the consumer is compared with itself with the straight read turned off."""

from __future__ import annotations

import random
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.log import FileLog, filelog
from pipeline.log.base import LogItem, LogRecord
from pipeline.log.filelog import _HEADER, _TIMED_CRC_SEED, _TIMED_MAGIC, encode_record
from tests import builders as b

N = 60


def _write(path: Path, plain: set[int]) -> list[Path]:
    """A one-partition log of N events over several segments; the offsets in `plain` are
    rewritten as records without an ingest time (as logs written before it was kept)."""
    log = FileLog(path, partitions=1, fsync=False, segment_bytes=1500)
    log.append([b.assumed(f"ASIA{i:04d}", "R", i, event_id=f"e{i}") for i in range(N)])
    log.close()
    reader = FileLog(path, create=False)
    records = {
        r.offset: r for r in reader.read(0, 0, max_records=10 * N) if isinstance(r, LogRecord)
    }
    reader.close()
    segments = sorted((path / "p000").glob("*.seg"))
    bases = [int(s.stem) for s in segments] + [N]
    for segment, base, nxt in zip(segments, bases, bases[1:], strict=False):
        out = bytearray()
        for offset in range(base, nxt):
            r = records[offset]
            micros = None
            if offset not in plain and r.ingested_at is not None:
                micros = (r.ingested_at - filelog._EPOCH) // timedelta(microseconds=1)
            out += encode_record(offset, r.key, r.value, micros)
        segment.write_bytes(bytes(out))
    return segments


def _read(path: Path, resume: int, sizes: list[int]) -> list[LogItem]:
    log = FileLog(path, create=False)
    consumer = log.consumer()
    consumer.start(lambda parts: dict.fromkeys(parts, resume))
    out: list[LogItem] = []
    for size in sizes * 50:
        got = consumer.poll(size)
        if not got and consumer.caught_up():
            break
        out += got
    consumer.close()
    log.close()
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    flips=st.integers(0, 3),
    plain=st.sets(st.integers(0, N - 1), max_size=10),
    resume=st.integers(0, N + 2),
    sizes=st.lists(st.integers(1, 25), min_size=1, max_size=4),
    cut_tail=st.booleans(),
)
def test_the_straight_read_yields_what_the_general_scan_yields(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    flips: int,
    plain: set[int],
    resume: int,
    sizes: list[int],
    cut_tail: bool,
) -> None:
    path = tmp_path_factory.mktemp("log")
    segments = _write(path / "log", plain)
    rng = random.Random(seed)
    for _ in range(flips):  # a flipped byte anywhere: header, key length, body
        segment = rng.choice(segments)
        data = bytearray(segment.read_bytes())
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        segment.write_bytes(bytes(data))
    if cut_tail:  # a torn tail on the last segment
        tail = segments[-1].read_bytes()
        segments[-1].write_bytes(tail[: len(tail) - rng.randrange(1, 40)])
    fast = _read(path / "log", resume, sizes)
    original = filelog.clean_run
    filelog.clean_run = lambda partition, buf, pos, expected, limit: ([], pos)
    try:
        general = _read(path / "log", resume, sizes)
    finally:
        filelog.clean_run = original
    assert fast == general
    assert len([i for i in general if hasattr(i, "value")]) > 0 or resume >= N - 5


def test_healthy_records_are_read_straight_through(tmp_path: Path) -> None:
    """The straight read takes a healthy segment whole (else the test above compares the
    general scan with itself)."""
    segments = _write(tmp_path / "log", {3, 4})
    buf = segments[0].read_bytes()
    run, after = filelog.clean_run(0, buf, 0, 0, 1000)
    assert after == len(buf)
    assert [r.offset for r in run] == list(range(len(run)))
    assert run[3].ingested_at is None and run[0].ingested_at is not None


def test_a_key_longer_than_its_record_is_left_to_the_general_scan(tmp_path: Path) -> None:
    """Only crafted bytes have an intact checksum over a key length that overruns the
    record; the straight read must stop there and the general scan decide."""
    segments = _write(tmp_path / "log", set())
    data = segments[0].read_bytes()
    body = (7).to_bytes(8, "big") + (500).to_bytes(2, "big") + b"short"
    head = struct.pack(">QI", 0, len(body))
    crc = zlib.crc32(body, zlib.crc32(head, _TIMED_CRC_SEED))
    crafted = _HEADER.pack(_TIMED_MAGIC, 0, len(body), crc) + body
    _, _, length, _ = _HEADER.unpack_from(data, 0)
    segments[0].write_bytes(crafted + data[_HEADER.size + length :])  # replaces offset 0
    run, after = filelog.clean_run(0, segments[0].read_bytes(), 0, 0, 10)
    assert run == [] and after == 0
    fast = _read(tmp_path / "log", 0, [7])
    original = filelog.clean_run
    filelog.clean_run = lambda partition, buf, pos, expected, limit: ([], pos)
    try:
        assert fast == _read(tmp_path / "log", 0, [7])
    finally:
        filelog.clean_run = original
