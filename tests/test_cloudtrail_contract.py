"""The import without models is the import with models: the same bytes on the log.

The reference is the importer as it was (every record mapped to pydantic models, each
event encoded through `model_dump()`), kept here; the new one maps records straight to
Avro records, in this process or in worker processes. Both import the same inputs onto
their own log and the logs must hold the same messages, partition by partition, in the
same order: so re-importing files an older version imported adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from pipeline.cloudtrail import import_cloudtrail
from pipeline.cloudtrail.contract import _SHAPES, avro_record, partition_key
from pipeline.cloudtrail.fields import Unmapped
from pipeline.cloudtrail.mapping import RecordMapper
from pipeline.cloudtrail.reader import Lost, find_inputs, read_records
from pipeline.codec import default_codec
from pipeline.events import EVENT_TYPES, CredentialIssued, EventSource, RoleExited
from pipeline.log import FileLog, LogRecord
from pipeline.producer import Producer
from pipeline.simulator import SimulationConfig, simulate
from pipeline.simulator.cloudtrail import write_cloudtrail
from pipeline.timeutil import parse_time
from tests.cloudtrail_helpers import FIXTURES


def _old_import(paths: Iterable[str], log: FileLog) -> None:
    """The importer before #15: one mapper for every input, events through the models."""
    mapper = RecordMapper()
    with Producer(log, batch_size=500) as producer:
        for source in find_inputs(paths).files:
            try:
                for raw in read_records(source):
                    if isinstance(raw, Lost):
                        continue
                    try:
                        events = mapper.map(raw)
                    except (Unmapped, RecursionError):
                        continue
                    for event in events:
                        producer.emit(event)
            except Exception:  # a corrupt input: what came before it stays
                continue


def _messages(log_dir: Path) -> dict[int, list[tuple[bytes | None, bytes]]]:
    log = FileLog(log_dir, create=False)
    consumer = log.consumer()
    consumer.start(lambda parts: dict.fromkeys(parts, 0))
    out: dict[int, list[tuple[bytes | None, bytes]]] = {}
    while batch := consumer.poll(10_000, timeout=0.1):
        for item in batch:
            assert isinstance(item, LogRecord)
            out.setdefault(item.partition, []).append((item.key, item.value))
    log.close()
    return out


def _compare(tmp_path: Path, paths: list[str], jobs: tuple[int, ...] = (1,)) -> int:
    old = FileLog(tmp_path / "old", partitions=4, fsync=False)
    _old_import(paths, old)
    old.close()
    expected = _messages(tmp_path / "old")
    for n in jobs:
        new = FileLog(tmp_path / f"new{n}", partitions=4, fsync=False)
        summary = import_cloudtrail(paths, Producer(new, batch_size=500), jobs=n)
        new.close()
        got = _messages(tmp_path / f"new{n}")
        assert got.keys() == expected.keys()
        for partition, messages in expected.items():
            assert got[partition] == messages, f"partition {partition}, jobs={n}"
        assert summary.events_total == sum(len(m) for m in expected.values())
    return sum(len(m) for m in expected.values())


def test_every_real_sample_and_composed_record_gives_the_same_bytes(tmp_path: Path) -> None:
    paths = sorted(str(p) for p in FIXTURES.rglob("*.json*"))
    assert len(paths) > 40
    assert _compare(tmp_path, paths) > 100


def test_a_simulated_trail_gives_the_same_bytes_whatever_the_jobs(tmp_path: Path) -> None:
    config = SimulationConfig(start=parse_time("2026-01-05"), days=2, seed=3)
    write_cloudtrail(simulate(config), tmp_path / "trail")
    emitted = _compare(tmp_path, [str(tmp_path / "trail")], jobs=(1, 2, 3))
    assert emitted > 1000


def test_the_quick_rules_know_every_field_of_the_contract() -> None:
    assert set(_SHAPES) == set(EVENT_TYPES)
    for cls, shape in _SHAPES.items():
        assert set(shape.checks) == set(cls.model_fields)


_ENVELOPE = {
    "event_id": "ct:x",
    "event_time": parse_time("2026-01-05T00:00:00Z"),
    "account_id": "111122223333",
    "source": EventSource.CLOUDTRAIL,
}


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (RoleExited, {}),  # names no session: the model validator refuses it
        (
            CredentialIssued,
            {
                "session_id": "ASIA1",
                "access_key_id": "ASIA1",
                "issued_at": parse_time("2026-01-05T01:00:00Z"),
                "expires_at": parse_time("2026-01-05T00:00:00Z"),  # before its issue
            },
        ),
        (RoleExited, {"session_id": "", "reason": "CONSOLE_EXIT"}),  # empty text
        (RoleExited, {"session_id": "x" * 4097, "reason": "CONSOLE_EXIT"}),
        (RoleExited, {"session_id": "s", "reason": "CONSOLE_EXIT", "extra": 1}),
        (RoleExited, {"session_id": "s\ud800", "reason": "CONSOLE_EXIT"}),  # lone surrogate
    ],
)
def test_what_the_model_refuses_is_refused(cls: type, fields: dict[str, object]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        cls(**_ENVELOPE, **fields)
    with pytest.raises(ValidationError):
        avro_record(cls, {**_ENVELOPE, **fields})


@pytest.mark.parametrize(
    "account", ["11112222333\u00b2", "\u0661" * 12, "11112222333", " 111122223333"]
)
def test_an_account_id_the_quick_rule_doubts_is_left_to_the_model(account: str) -> None:
    from pydantic import ValidationError

    fields = {**_ENVELOPE, "account_id": account, "session_id": "s", "reason": "OTHER"}
    try:
        model = RoleExited(**fields).model_dump()  # type: ignore[arg-type]
    except ValidationError:
        with pytest.raises(ValidationError):
            avro_record(RoleExited, fields)
    else:
        assert avro_record(RoleExited, fields) == ("RoleExited", model)


def test_records_encode_as_their_models_do_and_keep_their_partition() -> None:
    codec = default_codec()
    fields = {
        **_ENVELOPE,
        "session_id": "arn:aws:sts::1:assumed-role/R/u@2026-01-05T00:00:00+00:00",
        "via": "CONSOLE_SWITCH_ROLE",
    }
    from pipeline.events import AssumeVia, RoleAssumed

    fields["via"] = AssumeVia.CONSOLE_SWITCH_ROLE
    event = RoleAssumed(**fields)  # type: ignore[arg-type]
    event_type, record = avro_record(RoleAssumed, fields)
    assert record == event.model_dump()
    assert codec.encode_record(event_type, record) == codec.encode(event)
    assert partition_key(event_type, record) == event.partition_key()


def test_a_pipe_named_among_files_is_read_by_the_importing_process(tmp_path: Path) -> None:
    """`<(zcat ...)` is a file descriptor of this process: a worker could not open it."""
    import os
    import threading

    from pipeline.cloudtrail.importer import _size
    from pipeline.cloudtrail.reader import Source

    sample = next(FIXTURES.rglob("*.json"))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(sample.read_bytes()))
    writer.start()
    assert _size(Source(str(fifo), fifo)) > 1 << 40  # read here, never by a worker
    paths = [str(sample), str(fifo), str(sample)]
    log = FileLog(tmp_path / "log", partitions=4, fsync=False)
    summary = import_cloudtrail(paths, Producer(log), jobs=2)
    log.close()
    writer.join()
    assert summary.files_read == 3 and not summary.corrupt_files
    assert summary.records_read == 3 * len(list(read_records(Source(str(sample), sample))))


def test_packed_files_append_what_their_items_do(tmp_path: Path) -> None:
    """A worker's packed file gives the log and the summary what its items give: an
    inferred session of a key that already had one (from another worker's file) is
    dropped, the events before and after it kept."""
    from pipeline.cloudtrail.importer import InferredMessages, Item, _packed, _Run
    from pipeline.cloudtrail.summary import ImportSummary

    def message(i: int) -> tuple[bytes, bytes, str]:
        return f"ASIA{i % 5}".encode(), bytes([i]) * (i + 3), ("RoleAssumed", "Exit")[i % 2]

    def inferred(key: str, *numbers: int) -> InferredMessages:
        return InferredMessages(key, True, [message(i) for i in numbers])

    files: list[list[Item]] = [
        [message(0), inferred("ASIAA", 1, 2), message(3), inferred("ASIAB", 4)],
        [inferred("ASIAA", 5, 6), message(7), inferred("ASIAC", 8), inferred("ASIAB", 9)],
        [inferred("ASIAC", 10, 11)],
    ]
    outcomes = []
    for packed in (False, True):
        log = FileLog(tmp_path / f"packed-{packed}", partitions=4, fsync=False)
        run = _Run(ImportSummary(), Producer(log, batch_size=3), 100, None)
        for items in files:
            run.append(_packed(items, 4) if packed else items)
        run.producer.flush()
        log.close()
        outcomes.append((_messages(tmp_path / f"packed-{packed}"), run.summary))
    (plain, plain_summary), (packed_log, packed_summary) = outcomes
    kept = [0, 1, 2, 3, 4, 7, 8]  # 5, 6, 9, 10, 11: the keys' second inferred sessions
    assert sorted(m for ms in packed_log.values() for m in ms) == sorted(
        message(i)[:2] for i in kept
    )
    assert packed_log == plain
    assert packed_summary.events_emitted == plain_summary.events_emitted
    assert packed_summary.events_emitted == {"RoleAssumed": 4, "Exit": 3}
    assert packed_summary.inferred_sessions == plain_summary.inferred_sessions == 3
