"""The consumer without a model per event is the consumer with one: the same batches.

The reference is `decode_items` as it was before #15 (every record decoded and built as
its pydantic model), kept here. The new one checks the contract's rules on the batch's
columns and builds a model only for a record those rules cannot vouch for. On the same
log items both must accept the same records (the same rows) and refuse the same ones
with the same reason, in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.codec import EventCodec, default_codec
from pipeline.decoding import decode_items
from pipeline.errors import CodecError, EventValidationError
from pipeline.events import EVENT_TYPES, Event
from pipeline.log.base import DamagedSpan, LogItem, LogRecord
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store.batch import Accepted, Batch, Rejected
from pipeline.store.columns import batch_tables, doubtful
from pipeline.store.rows import record_of
from pipeline.timeutil import parse_time
from tests import strategies

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


def _old_decode_items(log_name: str, items: Sequence[LogItem], codec: EventCodec) -> Batch:
    """decode_items before #15: a model per record."""
    batch = Batch(log_name)
    for item in items:
        if isinstance(item, DamagedSpan):
            batch.rejected.append(
                Rejected(item.partition, item.start, item.end, f"damaged log: {item.reason}")
            )
            batch.advance(item.partition, item.end)
            continue
        batch.advance(item.partition, item.offset + 1)
        try:
            event, record = codec.decode_full(item.value)
        except (CodecError, EventValidationError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            batch.rejected.append(
                Rejected(item.partition, item.offset, item.offset + 1, reason, item.value)
            )
            continue
        batch.accepted.append(
            Accepted.of_record(item.partition, item.offset, event.event_type, record, item.value)
        )
    return batch


def _items(messages: Sequence[bytes]) -> list[LogItem]:
    return [LogRecord(i % 3, i, None, m) for i, m in enumerate(messages)]


def _same(items: Sequence[LogItem]) -> Batch:
    """The new batch of `items`, after checking it is the old one."""
    codec = default_codec()
    new = decode_items("log", items, codec)
    old = _old_decode_items("log", items, codec)
    assert new.rejected == old.rejected
    assert new.next_offsets == old.next_offsets
    # The decoder hands the accepted items as tables, built for exactly those items.
    assert new.tables is not None and not new.accepted
    assert new.accepted_count == len(old.accepted)
    expected = batch_tables(old.accepted)
    assert new.tables.events.equals(expected.events)
    assert new.tables.facts.keys() == expected.facts.keys()
    for name, table in expected.facts.items():
        assert new.tables.facts[name].equals(table), name
    new.accepted = old.accepted  # as tuples too, for the checks that read them
    return new


def _message(event_type: str, record: dict[str, Any]) -> bytes:
    return default_codec().encode_record(event_type, record)


def _record(event: Event) -> dict[str, Any]:
    return record_of(event)


def test_simulated_log_every_event_type_vouched_for_without_a_model() -> None:
    codec = default_codec()
    config = SimulationConfig(start=parse_time("2026-01-05"), days=2, seed=5)
    events = list(simulate(config))
    assert {e.event_type for e in events} == {cls.event_type for cls in EVENT_TYPES}
    batch = _same(_items([codec.encode(e) for e in events]))
    assert len(batch.accepted) == len(events) and not batch.rejected
    # Valid simulated events need no model at all: the quick rules vouch for every one.
    assert batch.tables is not None and doubtful(batch.tables) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(strategies.any_event, min_size=1, max_size=12))
def test_valid_events_of_every_type_are_accepted_alike(events: list[Event]) -> None:
    batch = _same(_items([default_codec().encode(e) for e in events]))
    assert len(batch.accepted) == len(events)


def _good() -> dict[str, dict[str, Any]]:
    """One valid record of each event type."""
    env = {"event_time": T0, "account_id": "111122223333", "source": "CLOUDTRAIL"}
    return {
        "RoleAssumed": {
            **env,
            "event_id": "ra",
            "session_id": "ASIA1",
            "role_arn": "arn:aws:iam::111122223333:role/R",
            "session_name": None,
            "session_arn": None,
            "via": "ASSUME_ROLE",
            "caller_arn": None,
            "caller_type": None,
            "caller_access_key_id": None,
            "source_identity": None,
            "session_tags": {"team": "ops"},
            "transitive_tag_keys": [],
            "session_policy": None,
            "session_policy_arns": [],
            "mfa_authenticated": None,
            "source_ip": None,
            "user_agent": None,
            "requested_duration_seconds": 3600,
            "lifecycle_key": None,
            "start_estimated": False,
        },
        "CredentialIssued": {
            **env,
            "event_id": "ci",
            "session_id": "ASIA1",
            "access_key_id": "ASIA1",
            "issued_at": T0,
            "expires_at": T0 + timedelta(hours=1),
        },
        "RoleExited": {
            **env,
            "event_id": "rx",
            "session_id": "ASIA1",
            "lifecycle_key": None,
            "reason": "CONSOLE_EXIT",
        },
        "SessionsRevoked": {
            **env,
            "event_id": "sr",
            "role_arn": "arn:aws:iam::111122223333:role/R",
            "issued_before": T0,
        },
        "PolicyChanged": {
            **env,
            "event_id": "pc",
            "target_type": "ROLE",
            "target_arn": "arn:aws:iam::111122223333:role/R",
            "change_type": "PUT_INLINE_POLICY",
            "policy_arn": None,
            "policy_name": "p",
            "policy_document": "{}",
            "policy_version_id": None,
            "set_as_default": None,
            "group_name": None,
        },
        "AccessRecorded": {
            **env,
            "event_id": "ar",
            "access_key_id": "ASIA1",
            "session_id": "ASIA1",
            "principal_arn": None,
            "action": "s3:GetObject",
            "resources": ["arn:aws:s3:::b/k"],
            "outcome": "ALLOWED",
            "error_code": None,
            "source_ip": "10.0.0.1",
            "user_agent": "aws-cli",
            "region": "eu-west-1",
        },
    }


# Records the Avro schema lets through but the contract refuses: each breaks one rule.
BROKEN: list[tuple[str, dict[str, Any], str]] = [
    ("RoleAssumed", {"event_id": ""}, "event_id"),
    ("RoleAssumed", {"event_id": "x" * 513}, "event_id"),
    ("RoleAssumed", {"session_id": ""}, "session_id"),
    ("RoleAssumed", {"role_arn": "r" * 4097}, "role_arn"),
    ("RoleAssumed", {"session_name": ""}, "session_name"),
    ("RoleAssumed", {"session_policy": "p" * 200_001}, "session_policy"),
    ("RoleAssumed", {"requested_duration_seconds": -1}, "requested_duration_seconds"),
    ("RoleAssumed", {"requested_duration_seconds": 10_000_001}, "requested_duration_seconds"),
    ("RoleAssumed", {"account_id": "11112222333"}, "account_id"),
    ("RoleAssumed", {"account_id": "11112222333x"}, "account_id"),
    ("RoleAssumed", {"event_time": datetime(2005, 12, 31, 23, 59, tzinfo=UTC)}, "event_time"),
    ("RoleAssumed", {"event_time": datetime(2200, 1, 1, tzinfo=UTC)}, "event_time"),
    ("CredentialIssued", {"expires_at": T0 - timedelta(seconds=1)}, "expires_at"),
    ("CredentialIssued", {"issued_at": datetime(1999, 1, 1, tzinfo=UTC)}, "issued_at"),
    ("CredentialIssued", {"access_key_id": ""}, "access_key_id"),
    ("RoleExited", {"session_id": None}, "neither session_id nor lifecycle_key"),
    ("RoleExited", {"lifecycle_key": ""}, "lifecycle_key"),
    ("SessionsRevoked", {"issued_before": datetime(2300, 1, 1, tzinfo=UTC)}, "issued_before"),
    ("SessionsRevoked", {"role_arn": ""}, "role_arn"),
    ("PolicyChanged", {"target_arn": ""}, "target_arn"),
    ("PolicyChanged", {"policy_document": "d" * 200_001}, "policy_document"),
    ("AccessRecorded", {"action": ""}, "action"),
    ("AccessRecorded", {"region": "é" * 4097}, "region (non-ASCII)"),
]


@pytest.mark.parametrize(("event_type", "change", "what"), BROKEN, ids=[b[2] for b in BROKEN])
def test_a_broken_rule_is_a_dead_letter_with_the_models_reason(
    event_type: str, change: dict[str, Any], what: str
) -> None:
    good = _good()
    messages = [_message(t, r) for t, r in good.items()]
    bad = _message(event_type, {**good[event_type], "event_id": "bad", **change})
    # The broken record in the middle of valid ones, and a damaged span after it.
    items: list[LogItem] = _items([*messages[:3], bad, *messages[3:]])
    items.append(DamagedSpan(0, 100, 105, "a frame's checksum does not match"))
    batch = _same(items)
    assert len(batch.accepted) == len(messages)
    reasons = [r.reason for r in batch.rejected]
    assert reasons[0].startswith(f"EventValidationError: invalid {event_type}: ")
    assert reasons[1].startswith("damaged log: ")


def test_what_the_quick_rules_doubt_the_model_still_decides() -> None:
    """Arabic-Indic digits: not ASCII, so the quick rule doubts; the model's pattern
    decides (whatever it says, the new path says the same: `_same`)."""
    good = _good()
    odd = {**good["AccessRecorded"], "account_id": "١١١١٢٢٢٢٣٣٣٣", "event_id": "odd"}
    nonascii = {**good["AccessRecorded"], "action": "s3:Gét", "event_id": "é"}
    messages = [_message("AccessRecorded", r) for r in (good["AccessRecorded"], odd, nonascii)]
    batch = _same(_items(messages))
    accepted = {a.event_id for a in batch.accepted}
    assert {"ar", "é"} <= accepted  # non-ASCII text within bounds needs no model
    tables = batch_tables(batch.accepted)
    doubted = [batch.accepted[p].event_id for p in doubtful(tables)]
    assert "ar" not in doubted and "é" not in doubted
    # The odd account was the model's to decide: accepted only when the model took it.
    assert ("odd" in accepted) == ("odd" in doubted)


def test_many_refusals_in_one_batch_keep_log_order() -> None:
    good = _good()
    messages: list[bytes] = []
    for i in range(30):
        event_type = list(good)[i % len(good)]
        record = {**good[event_type], "event_id": f"e{i}"}
        if i % 4 == 1:
            record["account_id"] = "short"
        messages.append(_message(event_type, record))
    messages.insert(7, b"\xc3\x01not an event")
    batch = _same(_items(messages))
    assert len(batch.rejected) == 9
    offsets = [r.offset for r in batch.rejected]
    assert offsets == sorted(offsets)


def test_a_table_the_rules_cannot_read_goes_to_the_model() -> None:
    """A column missing (or one more than the model has): every row is doubted."""
    from pipeline.contract_rules import SHAPES

    shape = SHAPES["SessionsRevoked"]
    table = pa.Table.from_pylist([_good()["SessionsRevoked"]])
    assert shape.vouched_rows(table).to_pylist() == [True]
    assert shape.vouched_rows(table.drop_columns(["role_arn"])).to_pylist() == [False]
    extra = table.append_column("surplus", pa.array(["x"]))
    assert shape.vouched_rows(extra).to_pylist() == [False]
    wrong_type = table.set_column(
        table.schema.get_field_index("issued_before"), "issued_before", pa.array(["2026"])
    )
    assert shape.vouched_rows(wrong_type).to_pylist() == [False]


def test_the_model_is_still_at_hand() -> None:
    event = next(iter(simulate(SimulationConfig(start=T0, days=1, seed=2))))
    accepted = Accepted.of_event(0, 0, event, default_codec().encode(event))
    assert accepted.model() == event
    assert accepted.event_id == event.event_id and accepted.event_type == event.event_type
    assert accepted.record == _record(event)


def _avro_values(avro_type: Any) -> st.SearchStrategy[Any]:
    """Any value the Avro type admits (what a hostile producer could write)."""
    if isinstance(avro_type, list):
        return st.one_of(*[_avro_values(t) for t in avro_type])
    if avro_type == "null":
        return st.none()
    if avro_type == "string":
        return st.text(max_size=5) | st.sampled_from(["x" * 4096, "x" * 4097, "x" * 513])
    if avro_type == "long":
        return st.integers(-(2**63), 2**63 - 1) | st.integers(-2, 10_000_002)
    if avro_type == "boolean":
        return st.booleans()
    kind = avro_type.get("logicalType") or avro_type["type"]
    if kind == "timestamp-micros":
        # Every year a datetime holds: the fact rows and tables must take them all.
        return st.datetimes(timezones=st.just(UTC)) | st.sampled_from(
            [datetime(2006, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)]
        )
    if kind == "enum":
        return st.sampled_from(avro_type["symbols"])
    if kind == "map":
        return st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)
    if kind == "array":
        return st.lists(st.text(max_size=3), max_size=2)
    raise AssertionError(f"no strategy for {avro_type}")


def _schemas() -> dict[str, dict[str, Any]]:
    from pipeline.codec import SCHEMA_DIR, load_schema_file

    return {t: load_schema_file(SCHEMA_DIR / f"{t}.avsc") for t in _good()}


SCHEMAS = _schemas()


@st.composite
def _hostile_record(draw: st.DrawFn) -> bytes:
    event_type = draw(st.sampled_from(sorted(SCHEMAS)))
    record = dict(_good()[event_type])
    fields = SCHEMAS[event_type]["fields"]
    for field in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3)):
        record[field["name"]] = draw(_avro_values(field["type"]))
    return _message(event_type, record)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_hostile_record(), min_size=1, max_size=8))
def test_any_record_the_schema_admits_is_judged_as_the_model_judges_it(
    messages: list[bytes],
) -> None:
    _same(_items(messages))
