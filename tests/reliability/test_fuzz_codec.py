"""Hostile messages: the codec rejects them with its own errors, the materializer
dead-letters them with a reason and applies every good message, and duplicated event ids
with different content keep the first and report the rest.

Run with `--hypothesis-show-statistics` to see how many inputs each property tried.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.codec import HEADER_SIZE, MAGIC, default_codec
from pipeline.errors import CodecError, EventValidationError, UnknownSchemaError
from pipeline.events import Event
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.store import Store
from tests.conftest import state_of
from tests.strategies import any_event

CODEC = default_codec()
FINGERPRINTS = sorted(CODEC.known_fingerprints())
REJECTED = (CodecError, EventValidationError)
FAST = settings(max_examples=300, deadline=None)
STORES = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _decodes(message: bytes) -> bool:
    """Whether a message is good; anything but the codec's own errors fails the test."""
    try:
        CODEC.decode(message)
    except REJECTED:
        return False
    return True


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes_are_rejected_cleanly(message: bytes) -> None:
    if message[:2] != MAGIC or bytes(message[2:HEADER_SIZE]) not in FINGERPRINTS:
        with pytest.raises(REJECTED):
            CODEC.decode(message)
    else:
        _decodes(message)


@FAST
@given(any_event, st.data())
def test_truncated_avro_never_decodes(event: Event, data: st.DataObject) -> None:
    message = CODEC.encode(event)
    cut = data.draw(st.integers(0, len(message) - 1))
    with pytest.raises(REJECTED):
        CODEC.decode(message[:cut])


@FAST
@given(any_event, st.binary(min_size=8, max_size=8))
def test_unknown_fingerprint_is_named(event: Event, fp: bytes) -> None:
    if fp in FINGERPRINTS:
        return
    message = CODEC.encode(event)
    with pytest.raises(UnknownSchemaError, match=fp.hex()):
        CODEC.decode(MAGIC + fp + message[HEADER_SIZE:])


@FAST
@given(st.sampled_from(FINGERPRINTS), st.binary(max_size=1500))
def test_valid_header_with_random_body(fp: bytes, body: bytes) -> None:
    _decodes(MAGIC + fp + body)


@FAST
@given(any_event, st.sampled_from(FINGERPRINTS))
def test_one_schemas_body_under_anothers_fingerprint(event: Event, fp: bytes) -> None:
    message = CODEC.encode(event)
    if fp == message[len(MAGIC) : HEADER_SIZE]:  # its own schema (not an older version)
        assert CODEC.decode(MAGIC + fp + message[HEADER_SIZE:]) == event
    else:
        _decodes(MAGIC + fp + message[HEADER_SIZE:])


def _hostile() -> st.SearchStrategy[bytes]:
    encoded = any_event.map(CODEC.encode)
    return st.one_of(
        st.binary(max_size=300),
        st.tuples(encoded, st.floats(0, 1, exclude_max=True)).map(
            lambda m: m[0][: int(len(m[0]) * m[1])]
        ),
        st.tuples(encoded, st.binary(min_size=8, max_size=8)).map(
            lambda m: MAGIC + m[1] + m[0][HEADER_SIZE:]
        ),
        st.tuples(st.sampled_from(FINGERPRINTS), st.binary(max_size=300)).map(
            lambda m: MAGIC + m[0] + m[1]
        ),
        st.tuples(encoded, st.sampled_from(FINGERPRINTS)).map(
            lambda m: MAGIC + m[1] + m[0][HEADER_SIZE:]
        ),
        encoded.map(lambda m: m + b"\x00"),  # trailing bytes
    )


@STORES
@given(
    st.lists(st.tuples(st.booleans(), any_event, _hostile()), min_size=1, max_size=40),
    st.sampled_from([1, 3, 50]),
)
def test_materializer_dead_letters_every_hostile_message_and_applies_every_good_one(
    tmp_path_factory: pytest.TempPathFactory,
    mix: list[tuple[bool, Event, bytes]],
    batch_size: int,
) -> None:
    tmp = tmp_path_factory.mktemp("mix")
    log = FileLog(tmp / "log", partitions=1, fsync=False)
    good: list[Event] = []
    messages: list[tuple[bytes | None, bytes, str]] = []
    hostile_offsets: set[int] = set()
    for i, (is_good, event, hostile) in enumerate(mix):
        if is_good:
            event = event.model_copy(update={"event_id": f"good-{i}"})
            good.append(event)
            messages.append((b"k", CODEC.encode(event), event.event_type))
        elif _decodes(hostile):
            # a random body that happens to be a valid event: it is good, and applied
            ev = CODEC.decode(hostile).model_copy(update={"event_id": f"good-{i}"})
            good.append(ev)
            messages.append((b"k", CODEC.encode(ev), ev.event_type))
        else:
            hostile_offsets.add(i)
            messages.append((b"k", hostile, "?"))
    log.append_encoded(messages)
    with Store(tmp / "db.duckdb") as store:
        materialize(log, store, batch_size=batch_size)
        dead = store.con.execute('SELECT "offset", end_offset, reason, body FROM dead_letters')
        rows = dead.fetchall()
        assert {r[0] for r in rows} == hostile_offsets
        assert all(r[1] == r[0] + 1 and r[2] and bytes(r[3]) == messages[r[0]][1] for r in rows)
        stored = store.con.execute("SELECT event_id FROM events").fetchall()
        assert sorted(e for (e,) in stored) == sorted(e.event_id for e in good)
        got = state_of(store)
    log.close()
    ref_log = FileLog(tmp / "ref-log", partitions=1, fsync=False)
    ref_log.append(good)
    with Store(tmp / "ref.duckdb") as ref:
        materialize(ref_log, ref)
        assert got == state_of(ref)
    ref_log.close()


@STORES
@given(
    st.lists(st.tuples(st.integers(0, 5), any_event), min_size=1, max_size=30),
    st.sampled_from([1, 4, 100]),
)
def test_duplicated_ids_with_different_content_first_wins_and_conflicts_are_reported(
    tmp_path_factory: pytest.TempPathFactory,
    pairs: list[tuple[int, Event]],
    batch_size: int,
) -> None:
    tmp = tmp_path_factory.mktemp("dup")
    events = [e.model_copy(update={"event_id": f"id-{n}"}) for n, e in pairs]
    # some exact repeats too: those are duplicates, not conflicts
    events += [e for i, e in enumerate(events) if i % 3 == 0]
    first: dict[str, tuple[int, bytes]] = {}
    expected_conflicts = []
    for offset, e in enumerate(events):
        body = CODEC.encode(e)
        if e.event_id not in first:
            first[e.event_id] = (offset, body)
        elif first[e.event_id][1] != body:
            expected_conflicts.append((e.event_id, offset))
    log = FileLog(tmp / "log", partitions=1, fsync=False)  # one partition: one log order
    log.append_encoded([(b"k", CODEC.encode(e), e.event_type) for e in events])
    with Store(tmp / "db.duckdb") as store:
        stats = materialize(log, store, batch_size=batch_size)
        assert stats.conflicts == len(expected_conflicts)
        rows = store.con.execute('SELECT event_id, "offset", body FROM events').fetchall()
        assert {eid: (o, bytes(b)) for eid, o, b in rows} == first
        reported = store.con.execute('SELECT event_id, "offset", reason FROM conflicts').fetchall()
        assert sorted((e, o) for e, o, _ in reported) == sorted(expected_conflicts)
        assert all("first one stored wins" in why for _, _, why in reported)
        got = state_of(store)
    log.close()
    winners = [CODEC.decode(body) for _, body in sorted(first.values())]
    ref_log = FileLog(tmp / "ref-log", partitions=1, fsync=False)
    ref_log.append(winners)
    with Store(tmp / "ref.duckdb") as ref:
        materialize(ref_log, ref)
        assert got == state_of(ref)
    ref_log.close()
