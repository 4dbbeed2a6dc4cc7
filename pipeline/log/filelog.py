"""The embedded log: a directory of partitioned, append-only segment files.

Layout::

    <dir>/log.json                    {"format": 1, "name": <uuid>, "partitions": N}
    <dir>/high-water                  the next offset of every partition (see below)
    <dir>/p000/00000000000000000000.seg   segments named by the first offset they hold

Each record is an 18-byte header and a body::

    magic 0xD520 (u16) | offset (u64) | body length (u32) | CRC-32 of offset+length+body (u32)
    body = ingest time (u64, microseconds since the epoch, UTC) | key length (u16) | key | value

The ingest time is when the writer appended the record (the clock of the appending host):
what "as known at" questions select on. Logs written before it existed hold records with
magic 0xD51E and no ingest time (`key length | key | value`); they still read, with an
unknown ingest time.

The offset in every header lets a reader re-synchronise after damage and say exactly
which offsets were lost; the checksum covers the length so a flipped length is caught.

Offsets are never reused. Before appending, the writer makes the partitions' next offsets
durable in `high-water` (write-ahead: it is never below an offset a reader may have seen).
On opening for writing, bytes after the last intact record (a write torn by a crash, or a
damaged last record that readers may already have consumed) are cut, and so are offsets
below the high-water mark that are not on disk (a lost write, a deleted or truncated
segment): either way the writer appends a gap record in their place, magic 0xD51F with the
body `end offset (u64) | reason`, covering `[offset, end)` (its checksum also covers the
magic, so one flipped bit never turns a record into a gap). Readers report a gap as a
damaged span (a dead letter with its reason), and the next record gets `end`, so nothing
already read is ever skipped as "applied" under a reused offset. A log written before the
high-water mark existed counts a cut tail as one record. A reader stops quietly before a
tail that does not read while a writer holds the log (it may be a record being written);
with no writer active it reports the tail's first offset as damaged at once, as the next
writer will cut it.

A store that has consumed offsets the log no longer holds (the newest segment deleted or
truncated) is reported by `FileLog.behind`, which `materialize` and `verify` check.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import struct
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from pipeline.codec import EventCodec
from pipeline.errors import LogError
from pipeline.log.base import (
    DamagedSpan,
    EventLog,
    LogConsumer,
    LogItem,
    LogRecord,
    PartitionsReleased,
    PositionsProvider,
)
from pipeline.log.packed import PackedMessages, pack

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">HQII")
HEADER_SIZE = _HEADER.size
_POLL_INTERVAL = 0.05  # how often an empty poll looks again while it waits
_MAGIC = 0xD51E  # a record without ingest time (logs written before it was kept)
_GAP_MAGIC = 0xD51F  # a gap record: offsets cut on reopen (see the module doc)
_TIMED_MAGIC = 0xD520  # a record with its ingest time (what the writer appends now)
_MAGICS = (_MAGIC, _GAP_MAGIC, _TIMED_MAGIC)
_MAGIC_BYTES = _MAGIC.to_bytes(2, "big")
_KEY_LEN = struct.Struct(">H")
_INGESTED = struct.Struct(">Q")
_GAP_END = struct.Struct(">Q")
_TIMED_PREFIX = _INGESTED.size + _KEY_LEN.size  # a timed record's body: ingest time, key length
_TIMED_BODY_PREFIX = struct.Struct(">QH")  # the two packed at once
_POSITION = struct.Struct(">QI")  # offset and body length, which the checksum covers first
# A timed record's checksummed head and body prefix, and its frame and body prefix: each
# packed at once where many records are written.
_TIMED_COVERED = struct.Struct(_POSITION.format + _TIMED_BODY_PREFIX.format[1:])
_TIMED_FRAME = struct.Struct(_HEADER.format + _TIMED_BODY_PREFIX.format[1:])
# A gap's checksum also covers its magic, so a record whose magic flips to the gap's (or
# back) fails its checksum instead of being read as the other kind.
_GAP_CRC_SEED = zlib.crc32(_GAP_MAGIC.to_bytes(2, "big"))
_TIMED_CRC_SEED = zlib.crc32(_TIMED_MAGIC.to_bytes(2, "big"))  # likewise for timed records
_CRC_SEEDS = {_MAGIC: 0, _GAP_MAGIC: _GAP_CRC_SEED, _TIMED_MAGIC: _TIMED_CRC_SEED}
# high-water: magic | partition count (u32) | next offset per partition (u64) | CRC-32
_HWM_MAGIC = b"RCHW"
_HWM_FILE = "high-water"
FORMAT_VERSION = 1
DEFAULT_PARTITIONS = 4
DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024
_LOCK_WAIT = 1.0  # seconds a writer waits out a reader's shared lock
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_record(
    offset: int, key: bytes | None, value: bytes, ingested_at_us: int | None = None
) -> bytes:
    """A record; with `ingested_at_us` (microseconds since the epoch) a timed one."""
    key = key or b""
    body = _KEY_LEN.pack(len(key)) + key + value
    magic, seed = _MAGIC, 0
    if ingested_at_us is not None:
        body = _INGESTED.pack(ingested_at_us) + body
        magic, seed = _TIMED_MAGIC, _TIMED_CRC_SEED
    head = _POSITION.pack(offset, len(body))
    crc = zlib.crc32(body, zlib.crc32(head, seed))
    return _HEADER.pack(magic, offset, len(body), crc) + body


def encode_gap(start: int, end: int, reason: str) -> bytes:
    """A gap record: offsets `[start, end)` that will never hold an event, and why."""
    body = _GAP_END.pack(end) + reason.encode("utf-8")[:1000]
    head = struct.pack(">QI", start, len(body))
    crc = zlib.crc32(body, zlib.crc32(head, _GAP_CRC_SEED))
    return _HEADER.pack(_GAP_MAGIC, start, len(body), crc) + body


def encode_high_water(nexts: Sequence[int]) -> bytes:
    data = _HWM_MAGIC + struct.pack(f">I{len(nexts)}Q", len(nexts), *nexts)
    return data + struct.pack(">I", zlib.crc32(data))


def decode_high_water(data: bytes, partitions: int) -> list[int] | None:
    """The next offsets recorded in a high-water file, or None when it is absent or damaged."""
    size = 8 + 8 * partitions
    if len(data) != size + 4 or not data.startswith(_HWM_MAGIC):
        return None
    if struct.unpack_from(">I", data, size)[0] != zlib.crc32(data[:size]):
        return None
    count, *nexts = struct.unpack_from(f">I{partitions}Q", data, 4)
    return list(nexts) if count == partitions else None


def partition_for(key: bytes | None, partitions: int) -> int:
    """Stable partitioner: the same key always lands on the same partition."""
    return zlib.crc32(key or b"") % partitions


@dataclass(slots=True)
class _Parsed:
    record: LogRecord | None = None
    damage: DamagedSpan | None = None
    next_pos: int = 0


def _valid_at(buf: bytes, pos: int) -> tuple[int, int] | None:
    """(offset, total length) of an intact record starting at `pos`, else None."""
    if len(buf) - pos < HEADER_SIZE:
        return None
    magic, offset, length, crc = _HEADER.unpack_from(buf, pos)
    end = pos + HEADER_SIZE + length
    if magic not in _MAGICS or end > len(buf):
        return None
    if magic == _GAP_MAGIC and length < _GAP_END.size:
        return None
    if magic == _TIMED_MAGIC and length < _INGESTED.size + _KEY_LEN.size:
        return None
    seed = _CRC_SEEDS[magic]
    if zlib.crc32(buf[pos + HEADER_SIZE : end], zlib.crc32(buf[pos + 2 : pos + 14], seed)) != crc:
        return None
    return offset, HEADER_SIZE + length


def _resync(buf: bytes, pos: int) -> int | None:
    """The byte position of the next intact record after `pos`, if any."""
    probe = pos + 1
    while True:
        probe = buf.find(_MAGIC_BYTES[:1], probe)  # either magic: a record or a gap
        if probe < 0:
            return None
        if _valid_at(buf, probe) is not None:
            return probe
        probe += 1


def _is_gap(buf: bytes, pos: int) -> bool:
    return int.from_bytes(buf[pos : pos + 2], "big") == _GAP_MAGIC


def _gap_at(partition: int, buf: bytes, pos: int, size: int) -> DamagedSpan:
    _, start, _, _ = _HEADER.unpack_from(buf, pos)
    (end,) = _GAP_END.unpack_from(buf, pos + HEADER_SIZE)
    reason = buf[pos + HEADER_SIZE + _GAP_END.size : pos + size].decode("utf-8", "replace")
    return DamagedSpan(partition, start, max(end, start + 1), reason)


def _record_at(partition: int, buf: bytes, pos: int, size: int) -> LogRecord:
    body = buf[pos + HEADER_SIZE : pos + size]
    magic, offset, _, _ = _HEADER.unpack_from(buf, pos)
    ingested_at = None
    if magic == _TIMED_MAGIC:
        (micros,) = _INGESTED.unpack_from(body, 0)
        ingested_at = _EPOCH + timedelta(microseconds=micros)
        body = body[_INGESTED.size :]
    (klen,) = _KEY_LEN.unpack_from(body, 0)
    key = bytes(body[2 : 2 + klen]) or None
    return LogRecord(partition, offset, key, bytes(body[2 + klen :]), ingested_at)


@dataclass(frozen=True, slots=True)
class _Tail:
    """A partition's last segment: its base, the offset after its last intact item, and
    where the intact items end in its `size` bytes (anything after them is a tail to cut)."""

    base: int | None
    next: int
    intact_bytes: int
    size: int


class _SegmentFiles:
    """The segment files of one partition, sorted by base offset."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def bases(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.seg") if p.stem.isdigit())

    def path(self, base: int) -> Path:
        return self.directory / f"{base:020d}.seg"


def scan_segment(
    partition: int,
    buf: bytes,
    expected: int,
    *,
    is_last: bool,
    next_base: int | None,
    start: int = 0,
) -> Iterator[tuple[LogItem, int]]:
    """Every record and damaged span of one segment's bytes from byte `start`, in order,
    each with the byte position just after it.

    Ends quietly at an incomplete tail of the last segment (it may still be being written).
    """
    pos = start
    while pos < len(buf):
        valid = _valid_at(buf, pos)
        if valid is None:
            nxt = _resync(buf, pos)
            if nxt is None:
                if is_last:
                    return  # a torn or still-growing tail
                assert next_base is not None
                end = max(next_base, expected + 1)
                reason = f"unreadable bytes to the end of the segment (from byte {pos})"
                yield DamagedSpan(partition, expected, end, reason), len(buf)
                return
            (off, _) = _valid_at(buf, nxt) or (expected, 0)
            end = max(off, expected + 1)
            reason = f"checksum mismatch at byte {pos} of the segment"
            yield DamagedSpan(partition, expected, end, reason), nxt
            expected, pos = end, nxt
            continue
        offset, size = valid
        if offset > expected:
            yield DamagedSpan(partition, expected, offset, "records missing from the segment"), pos
        if _is_gap(buf, pos):
            gap = _gap_at(partition, buf, pos, size)
            if gap.end > expected:
                yield gap, pos + size
                expected = gap.end
        elif offset >= expected:
            yield _record_at(partition, buf, pos, size), pos + size
            expected = offset + 1
        pos += size
    if not is_last and next_base is not None and expected < next_base:
        yield DamagedSpan(partition, expected, next_base, "missing segment or records"), pos


def clean_run(
    partition: int, buf: bytes, pos: int, expected: int, limit: int
) -> tuple[list[LogRecord], int]:
    """Records read straight through from byte `pos`, with the byte after them: each
    intact, each the very offset `expected` next, none a gap, at most `limit`.

    A healthy log is all such records; `scan_segment` yields exactly these for them, but
    through its general steps (damage, gaps, resumes), several times the checksum's cost
    a record. The first record that is anything else ends the run, and the general scan
    reads it.
    """
    out: list[LogRecord] = []
    append = out.append
    unpack, crc32, from_bytes = _HEADER.unpack_from, zlib.crc32, int.from_bytes
    timed, timed_seed, plain = _TIMED_MAGIC, _TIMED_CRC_SEED, _MAGIC
    epoch, microsecond = _EPOCH, timedelta(microseconds=1)
    # A record made in C (what `LogRecord(...)` makes, without its Python-level __new__).
    new_record, record_type = tuple.__new__, LogRecord
    # One append gives its records one ingest time: each distinct time is made once.
    last_micros, last_ingested = -1, _EPOCH
    view = memoryview(buf)
    n = len(buf)
    while len(out) < limit and n - pos >= HEADER_SIZE:
        magic, offset, length, crc = unpack(buf, pos)
        body = pos + HEADER_SIZE
        end = body + length
        if offset != expected or end > n:
            break
        if magic == timed and length >= _TIMED_PREFIX:
            seed, key_start = timed_seed, body + _TIMED_PREFIX
        elif magic == plain and length >= _KEY_LEN.size:
            seed, key_start = 0, body + _KEY_LEN.size
        else:
            break
        if crc32(view[body:end], crc32(view[pos + 2 : pos + 14], seed)) != crc:
            break
        key_end = key_start + from_bytes(buf[key_start - 2 : key_start], "big")
        if key_end > end:
            break  # a key longer than its record: the general scan reads it as it does
        ingested = None
        if magic == timed:
            micros = from_bytes(buf[body : body + 8], "big")
            if micros != last_micros:
                last_micros, last_ingested = micros, epoch + micros * microsecond
            ingested = last_ingested
        append(
            new_record(
                record_type,
                (partition, offset, buf[key_start:key_end] or None, buf[key_end:end], ingested),
            )
        )
        expected += 1
        pos = end
    return out, pos


class FileLog(EventLog):
    """The embedded, server-less event log (the default backend)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        partitions: int = DEFAULT_PARTITIONS,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: bool = True,
        create: bool = True,
        codec: EventCodec | None = None,
    ) -> None:
        super().__init__(codec)
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        meta_path = self.directory / "log.json"
        if meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
                self._partitions = int(meta["partitions"])
                self.name = str(meta["name"])
            except (ValueError, KeyError, TypeError) as exc:
                raise LogError(f"{meta_path} is not a rolecall log description: {exc}") from exc
            if int(meta.get("format", 0)) != FORMAT_VERSION:
                raise LogError(f"{meta_path}: unsupported log format {meta.get('format')}")
        elif create:
            if partitions < 1:
                raise LogError("a log needs at least one partition")
            self._partitions = partitions
            self.name = f"file:{uuid.uuid4()}"
            for p in range(partitions):
                (self.directory / f"p{p:03d}").mkdir(parents=True, exist_ok=True)
            tmp = meta_path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps({"format": FORMAT_VERSION, "name": self.name, "partitions": partitions})
            )
            os.replace(tmp, meta_path)
        else:
            raise LogError(f"no rolecall log at {self.directory} (missing log.json)")
        self._lock: IO[bytes] | None = None
        self._active: dict[int, IO[bytes]] = {}
        self._next: dict[int, int] = {}
        self._high_water_fd: int | None = None
        self.recovered: list[DamagedSpan] = []

    def segments(self, partition: int) -> _SegmentFiles:
        return _SegmentFiles(self.directory / f"p{partition:03d}")

    def known_prefix(self, partition: int, at: datetime) -> tuple[int, int] | None:
        """(next offset, records without an ingest time) of the partition's prefix
        ingested up to `at`, read from the record headers alone; None when a record does
        not read cleanly (the caller then reads through a consumer, which reports damage)."""
        limit_us = (at - _EPOCH) // timedelta(microseconds=1)
        nxt = unknown = 0
        for base in self.segments(partition).bases():
            buf = memoryview(self.segments(partition).path(base).read_bytes())
            pos = 0
            while pos < len(buf):
                if len(buf) - pos < HEADER_SIZE:
                    return None
                magic, offset, length, crc = _HEADER.unpack_from(buf, pos)
                end = pos + HEADER_SIZE + length
                if magic not in _MAGICS or end > len(buf) or offset < nxt:
                    return None
                head = zlib.crc32(buf[pos + 2 : pos + 14], _CRC_SEEDS[magic])
                if zlib.crc32(buf[pos + HEADER_SIZE : end], head) != crc:
                    return None
                if magic == _GAP_MAGIC:
                    nxt = _GAP_END.unpack_from(buf, pos + HEADER_SIZE)[0]
                elif magic == _TIMED_MAGIC:
                    if _INGESTED.unpack_from(buf, pos + HEADER_SIZE)[0] > limit_us:
                        return nxt, unknown
                    nxt = offset + 1
                else:
                    unknown += 1
                    nxt = offset + 1
                pos = end
        return nxt, unknown

    def partition_count(self) -> int:
        return self._partitions

    # -- writing ---------------------------------------------------------------------

    def _open_for_writing(self) -> None:
        if self._lock is not None:
            return
        lock = open(self.directory / ".write.lock", "ab")  # noqa: SIM115 - held until close
        # A reader holds the lock shared for a moment while it looks at a torn tail
        # (`quiet_tail`); a writer holds it for as long as it is open.
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() > deadline:
                    lock.close()
                    raise LogError(
                        f"another process is writing to the log at {self.directory}"
                    ) from exc
                time.sleep(0.05)
        self._lock = lock
        high_water = self._read_high_water()
        try:
            self._high_water_fd = os.open(self.directory / _HWM_FILE, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise LogError(f"cannot open {self.directory / _HWM_FILE}: {exc}") from exc
        known = dict(enumerate(high_water or [0] * self._partitions))
        for p in range(self._partitions):
            self._next[p] = self._recover(p, None if high_water is None else high_water[p], known)
        self._save_high_water(self._next)

    def _read_high_water(self) -> list[int] | None:
        path = self.directory / _HWM_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None  # a log written before the high-water mark existed
        except OSError as exc:
            raise LogError(f"cannot read {path}: {exc}") from exc
        nexts = decode_high_water(data, self._partitions)
        if nexts is None:
            log.warning("log %s: damaged high-water mark ignored", self.directory)
        return nexts

    def _save_high_water(self, nexts: Mapping[int, int]) -> None:
        """Make the next offsets durable before any record that uses them is written."""
        assert self._high_water_fd is not None
        data = encode_high_water([nexts[p] for p in range(self._partitions)])
        try:
            os.pwrite(self._high_water_fd, data, 0)
            if self.fsync:
                os.fsync(self._high_water_fd)
        except OSError as exc:
            raise LogError(f"cannot write {self.directory / _HWM_FILE}: {exc}") from exc

    def _tail(self, partition: int) -> _Tail:
        """Where the intact items of a partition's last segment end."""
        files = self.segments(partition)
        bases = files.bases()
        if not bases:
            return _Tail(None, 0, 0, 0)
        buf = files.path(bases[-1]).read_bytes()
        pos, nxt = 0, bases[-1]
        while pos < len(buf):
            valid = _valid_at(buf, pos)
            if valid is None:
                nxt_pos = _resync(buf, pos)
                if nxt_pos is None:
                    break
                pos = nxt_pos
                continue
            offset, size = valid
            end = _gap_at(partition, buf, pos, size).end if _is_gap(buf, pos) else offset + 1
            nxt = max(nxt, end)
            pos += size
        return _Tail(bases[-1], nxt, pos, len(buf))

    def _recover(self, partition: int, high_water: int | None, known: dict[int, int]) -> int:
        """Cut a torn or damaged tail, record what was cut as a gap; the next offset.

        The gap spans every offset that may have been handed out but is not intact on
        disk: up to the high-water mark (at least one offset for a cut tail), so that no
        offset a reader may have consumed is ever given to another record.
        """
        self.segments(partition).directory.mkdir(parents=True, exist_ok=True)
        tail = self._tail(partition)
        cut = tail.size - tail.intact_bytes
        end = max(tail.next + (1 if cut else 0), high_water or 0)
        if end == tail.next:
            return end
        if cut:
            reason = (
                f"torn tail of {cut} bytes cut on reopen (a write interrupted by a crash, "
                "or a damaged last record)"
            )
        else:
            reason = (
                "offsets assigned but not found on reopen (a write lost in a crash, "
                "or a deleted or truncated segment)"
            )
        log.warning(
            "log %s partition %d: offsets %d-%d recorded as a gap: %s",
            self.directory,
            partition,
            tail.next,
            end - 1,
            reason,
        )
        self.recovered.append(DamagedSpan(partition, tail.next, end, reason))
        # the end first: a crash between the cut and the gap must not reuse what was cut
        known[partition] = max(known[partition], end)
        self._save_high_water(known)
        path = self.segments(partition).path(tail.base if tail.base is not None else tail.next)
        try:
            with open(path, "ab") as fh:
                fh.truncate(tail.intact_bytes)
                fh.write(encode_gap(tail.next, end, reason))
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise LogError(f"cannot record a gap in {path}: {exc}") from exc
        return end

    def _segment_for_append(self, partition: int, first_offset: int) -> IO[bytes]:
        """The open segment to append to, starting a new one named `first_offset` if full."""
        fh = self._active.get(partition)
        if fh is None:
            bases = self.segments(partition).bases()
            path = self.segments(partition).path(bases[-1] if bases else first_offset)
            fh = open(path, "ab")  # noqa: SIM115 - kept open across appends
            self._active[partition] = fh
        if fh.tell() >= self.segment_bytes:
            fh.close()
            fh = open(self.segments(partition).path(first_offset), "ab")  # noqa: SIM115
            self._active[partition] = fh
        return fh

    def append_encoded(self, messages: Sequence[tuple[bytes | None, bytes, str]]) -> None:
        self.append_packed(pack(messages, self._partitions))

    def pack_partitions(self) -> int:
        return self._partitions

    def append_packed(self, packed: PackedMessages) -> None:
        if packed.partitions != self._partitions:  # placed for another log: placed anew
            self.append_encoded(packed.messages())
            return
        self._open_for_writing()
        if not packed.payloads:
            return
        ahead = dict(self._next)
        for p, count in Counter(packed.parts).items():
            ahead[p] += count
        self._save_high_water(ahead)  # write-ahead: see the module doc
        # One ingest time per append: the moment these records reached the log.
        now = time.time_ns() // 1000
        # `encode_record`'s timed records, written out here with the frame and the body's
        # prefix packed at once: this loop is most of the appending process's work in a
        # parallel import (tests/test_filelog.py: the same bytes).
        crc32, covered, framed = zlib.crc32, _TIMED_COVERED.pack, _TIMED_FRAME.pack
        prefix_size = _TIMED_BODY_PREFIX.size
        chunks: dict[int, tuple[int, list[bytes]]] = {}
        next_offsets = self._next
        for p, key_length, payload in zip(
            packed.parts, packed.key_lengths, packed.payloads, strict=True
        ):
            offset = next_offsets[p]
            next_offsets[p] = offset + 1
            chunk = chunks.get(p)
            if chunk is None:
                chunk = chunks[p] = (offset, [])
            length = prefix_size + len(payload)
            crc = crc32(payload, crc32(covered(offset, length, now, key_length), _TIMED_CRC_SEED))
            chunk[1].append(framed(_TIMED_MAGIC, offset, length, crc, now, key_length) + payload)
            if len(chunk[1]) >= 4096:  # bound memory on huge appends
                self._write(p, *chunks.pop(p))
        for p, (first, records) in chunks.items():
            self._write(p, first, records)

    def _write(self, partition: int, first_offset: int, records: list[bytes]) -> None:
        offset, pending = first_offset, list[bytes]()
        fh = self._segment_for_append(partition, offset)
        size = fh.tell()
        try:
            for record in records:
                if size >= self.segment_bytes and pending:
                    fh.write(b"".join(pending))
                    pending, size = [], self.segment_bytes
                if size >= self.segment_bytes:
                    fh.flush()
                    if self.fsync:
                        os.fsync(fh.fileno())
                    fh = self._segment_for_append(partition, offset)
                    size = fh.tell()
                pending.append(record)
                size += len(record)
                offset += 1
            fh.write(b"".join(pending))
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        except OSError as exc:
            raise LogError(f"cannot append to {fh.name}: {exc}") from exc

    # -- reading ---------------------------------------------------------------------

    def end_offsets(self) -> dict[int, int]:
        if self._next:
            return dict(self._next)
        high_water = self._read_high_water()
        return {
            p: max(self._present_end(p), high_water[p] if high_water else 0)
            for p in range(self._partitions)
        }

    def _present_end(self, partition: int) -> int:
        """The offset after the last one whose bytes are on disk (intact or not)."""
        tail = self._tail(partition)
        return tail.next + (1 if tail.size > tail.intact_bytes else 0)

    def quiet_tail(self, partition: int, expected: int) -> DamagedSpan | None:
        """The unreadable end of a partition when no writer is active: damage to report now.

        With a writer active the bytes may be a record being written, so readers wait. With
        none (checked under a shared lock, which keeps one from starting meanwhile) they
        can only be a write torn by a crash or a damaged record, which the next writer will
        cut: the first offset is reported at once, never left unsaid.
        """
        if self._lock is not None:
            return None  # this object is the writer: its appends may be under way
        try:
            fd = os.open(self.directory / ".write.lock", os.O_RDONLY)
        except OSError:
            return None  # no writer ever locked this log (or it is unreadable): stay quiet
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return None
            tail = self._tail(partition)
            cut = tail.size - tail.intact_bytes
            if not cut or tail.next + 1 <= expected:
                return None
            reason = (
                f"unreadable tail of {cut} bytes and no writer active (a write interrupted "
                "by a crash, or a damaged last record)"
            )
            return DamagedSpan(partition, max(tail.next, expected), tail.next + 1, reason)
        finally:
            os.close(fd)  # and with it the shared lock

    def behind(self, positions: Mapping[int, int]) -> list[DamagedSpan]:
        out = []
        for p, position in sorted(positions.items()):
            end = self._present_end(p) if 0 <= p < self._partitions else 0
            if position > end:
                out.append(DamagedSpan(p, end, position, "missing from the log"))
        return out

    def read(self, partition: int, offset: int, max_records: int = 1000) -> list[LogItem]:
        """Items of one partition from `offset` (a convenience over a one-off consumer)."""
        consumer = FileLogConsumer(self, partitions=[partition])
        consumer.start(lambda parts: {p: offset for p in parts})
        items = consumer.poll(max_records)
        consumer.close()
        return items

    def consumer(self, *, group: str = "rolecall-materializer") -> FileLogConsumer:
        return FileLogConsumer(self)

    def close(self) -> None:
        for fh in self._active.values():
            fh.close()
        self._active.clear()
        if self._high_water_fd is not None:
            os.close(self._high_water_fd)
            self._high_water_fd = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self._next.clear()


@dataclass
class _Cursor:
    """Where one partition's reading stands: the segment, the byte in it, the next offset."""

    partition: int
    expected: int
    bases: list[int] = field(default_factory=list)
    seg: int = -1  # index into bases of the segment being read
    pos: int = 0  # byte position in that segment after the last item returned
    buf: bytes = b""
    items: Iterator[tuple[LogItem, int]] | None = None
    drained_size: int = -1  # the last segment's size when we last read all of it


class FileLogConsumer(LogConsumer):
    """Reads every partition of a file log round-robin from stored positions."""

    def __init__(self, log: FileLog, partitions: Sequence[int] | None = None) -> None:
        self.log = log
        self._partitions = (
            list(partitions) if partitions is not None else list(range(log.partition_count()))
        )
        self._cursors: dict[int, _Cursor] = {}

    def start(
        self, positions: PositionsProvider, released: PartitionsReleased | None = None
    ) -> None:
        resume: Mapping[int, int] = positions(self._partitions)
        self._cursors = {p: _Cursor(p, int(resume.get(p, 0))) for p in self._partitions}

    def _open_segment(self, cur: _Cursor, files: _SegmentFiles) -> bool:
        """Load the cursor's segment and start scanning it; False when there is none."""
        if cur.seg < 0:
            cur.bases = files.bases()
            if not cur.bases:
                return False
            # resume: the last segment whose base is at or before the next offset to read
            cur.seg = max([i for i, b in enumerate(cur.bases) if b <= cur.expected] or [0])
            cur.pos = 0
        cur.buf = files.path(cur.bases[cur.seg]).read_bytes()
        self._scan_from(cur)
        return True

    def _scan_from(self, cur: _Cursor) -> None:
        """The general scan of the cursor's segment from its byte position."""
        is_last = cur.seg == len(cur.bases) - 1
        cur.items = scan_segment(
            cur.partition,
            cur.buf,
            cur.bases[cur.seg] if cur.pos == 0 else cur.expected,
            is_last=is_last,
            next_base=None if is_last else cur.bases[cur.seg + 1],
            start=cur.pos,
        )

    def _fill(self, cur: _Cursor, want: int) -> list[LogItem]:
        """Up to `want` items at or after the cursor's next offset."""
        out: list[LogItem] = []
        files = self.log.segments(cur.partition)
        if cur.seg < 0 and files.bases() and cur.expected < files.bases()[0]:
            first = files.bases()[0]
            out.append(DamagedSpan(cur.partition, cur.expected, first, "missing segment"))
            cur.expected = first
        while len(out) < want:
            if cur.items is None:
                if cur.seg >= 0 and cur.seg == len(cur.bases) - 1:
                    # at the tail: reread only when the file grew or a segment was added
                    fresh = files.bases()
                    size = files.path(cur.bases[cur.seg]).stat().st_size
                    if size == cur.drained_size and len(fresh) == len(cur.bases):
                        return out
                    cur.bases = fresh
                if not self._open_segment(cur, files):
                    return out
            assert cur.items is not None
            run, after = clean_run(cur.partition, cur.buf, cur.pos, cur.expected, want - len(out))
            if run:
                # The general scan then resumes after the run, where it would stand had it
                # read the run itself (its next expected offset is the cursor's).
                out.extend(run)
                cur.pos, cur.expected = after, run[-1].offset + 1
                self._scan_from(cur)
                continue
            step = next(cur.items, None)
            if step is None:
                cur.items = None
                if cur.seg == len(cur.bases) - 1:
                    cur.drained_size = len(cur.buf)
                    fresh = files.bases()
                    if len(fresh) == len(cur.bases):
                        if cur.pos < len(cur.buf):  # stopped at bytes that do not read
                            span = self.log.quiet_tail(cur.partition, cur.expected)
                            if span is not None:
                                out.append(span)
                                cur.expected = span.end
                        return out
                    # a segment was added: finish this one as a closed segment first
                    cur.bases = fresh
                    continue
                cur.seg, cur.pos, cur.drained_size = cur.seg + 1, 0, -1
                continue
            item, cur.pos = step
            if isinstance(item, LogRecord):
                if item.offset < cur.expected:
                    continue
                cur.expected = item.offset + 1
            else:
                if item.end <= cur.expected:
                    continue
                item = DamagedSpan(
                    item.partition, max(item.start, cur.expected), item.end, item.reason
                )
                cur.expected = item.end
            out.append(item)
        return out

    def poll(self, max_records: int, timeout: float = 0.0) -> list[LogItem]:
        """Up to `max_records` items; when there are none yet, wait up to `timeout`
        seconds for some (as a Kafka consumer does), so a follower does not spin."""
        deadline = time.monotonic() + timeout
        while True:
            out: list[LogItem] = []
            share = max(1, max_records // max(1, len(self._cursors)))
            for cur in self._cursors.values():
                out.extend(self._fill(cur, min(share, max_records - len(out))))
                if len(out) >= max_records:
                    break
            left = deadline - time.monotonic()
            if out or left <= 0:
                return out
            time.sleep(min(_POLL_INTERVAL, left))

    def caught_up(self) -> bool:
        """Every partition read to the end of what is on disk now."""
        for cur in self._cursors.values():
            files = self.log.segments(cur.partition)
            bases = files.bases()
            if not bases:
                continue
            if cur.seg < len(bases) - 1 or cur.items is not None:
                return False
            if files.path(bases[-1]).stat().st_size != cur.drained_size:
                return False
        return True

    def close(self) -> None:
        self._cursors.clear()
