"""Decoding in a second process: the same store as decoding in this one, and a dead
decoding process loses nothing."""

from __future__ import annotations

import os
import pickle
import signal
from pathlib import Path

from pipeline.codec import SCHEMA_DIR, EventCodec, default_codec, load_schema_file
from pipeline.decode_process import OFFLOAD_MIN, Decoder
from pipeline.decoding import decode_items
from pipeline.evidence.chain import digest
from pipeline.log import FileLog
from pipeline.log.base import LogRecord
from pipeline.materializer import materialize
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import Store
from pipeline.timeutil import parse_time
from tests.conftest import state_of

SIM = list(simulate(SimulationConfig(start=parse_time("2026-01-05"), days=2, seed=7)))


def _log(path: Path) -> FileLog:
    """The simulated events, some twice, one changed under its id, and bad messages."""
    log = FileLog(path, partitions=3, fsync=False)
    log.append(SIM)
    log.append(SIM[:50])  # duplicates
    changed = SIM[60].model_copy(update={"account_id": "999988887777"})
    log.append([changed])  # a conflict: same id, other content
    message = default_codec().encode(SIM[70])
    log.append_encoded(
        [
            (b"k", b"not avro at all", "Garbage"),
            (b"k", message[:-3], SIM[70].event_type),  # truncated
            (b"k", message + b"\x00", SIM[70].event_type),  # trailing bytes
        ]
    )
    return log


def _store(log: FileLog, path: Path, *, decode_process: bool) -> tuple[object, ...]:
    with Store(path) as store:
        stats = materialize(
            log, store, batch_size=700, decode_process=decode_process, group=path.stem
        )
        state = state_of(store)
        heads = digest(store.con)
    return stats.applied, stats.duplicates, stats.conflicts, stats.dead_letters, state, heads


def test_decoding_in_a_second_process_builds_the_same_store(tmp_path: Path) -> None:
    log = _log(tmp_path / "log")
    here = _store(log, tmp_path / "here.duckdb", decode_process=False)
    there = _store(log, tmp_path / "there.duckdb", decode_process=True)
    log.close()
    applied, duplicates, conflicts, dead_letters = here[:4]
    assert applied == len(SIM) and duplicates == 50 and conflicts == 1 and dead_letters == 3
    assert there == here


def _records(count: int) -> list[LogRecord]:
    codec = default_codec()
    events = (SIM * (count // len(SIM) + 1))[:count]
    return [LogRecord(i % 2, i, None, codec.encode(e)) for i, e in enumerate(events)]


def test_only_large_batches_go_to_the_process_by_default() -> None:
    decoder = Decoder(default_codec())
    try:
        decoder.decode("log", _records(10))
        assert not decoder.offloading
        items = _records(OFFLOAD_MIN)
        batch = decoder.decode("log", items)
        assert decoder.offloading
        assert batch.tables is not None
        expected = decode_items("log", items, default_codec()).tables
        assert expected is not None and batch.tables.events.equals(expected.events)
    finally:
        decoder.close()
    assert not decoder.offloading


def test_a_dead_decoding_process_loses_nothing() -> None:
    decoder = Decoder(default_codec(), offload=True)
    items = _records(300)
    expected = decode_items("log", items, default_codec())
    try:
        decoder.decode("log", items)
        os.kill(decoder.process_id(), signal.SIGKILL)
        batch = decoder.decode("log", items)  # decoded here instead
        assert not decoder.offloading and decoder.offload is False
        assert batch.tables is not None and expected.tables is not None
        assert batch.tables.events.equals(expected.tables.events)
        assert batch.next_offsets == expected.next_offsets
    finally:
        decoder.close()


def test_a_codec_crosses_to_another_process_as_what_built_it() -> None:
    assert pickle.loads(pickle.dumps(default_codec())) is default_codec()
    # A codec of one type and its old version, built from schemas it was given.
    schema = load_schema_file(SCHEMA_DIR / "RoleAssumed.avsc")
    old = load_schema_file(SCHEMA_DIR / "history" / "RoleAssumed.v1.avsc")
    codec = EventCodec({"RoleAssumed": schema}, history=[old])
    assert len(codec.known_fingerprints()) == 2
    copy = pickle.loads(pickle.dumps(codec))
    assert copy.known_fingerprints() == codec.known_fingerprints()
    message = codec.encode(next(e for e in SIM if e.event_type == "RoleAssumed"))
    assert copy.decode_record(message) == codec.decode_record(message)
