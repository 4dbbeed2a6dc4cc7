"""The batch tables built column-wise are the tables built row by row (#15).

The reference is `batch_tables` as it was before: a fact row per event (`dict(record)`,
tags as canonical JSON, the assumption's preference), then `pa.Table.from_pylist`. Arrow
inferred each column's type from its values, so a column with no value at all was of the
null type; the column-wise tables type every column by the Avro schema, as the store does.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.codec import default_codec
from pipeline.decoding import decode_items
from pipeline.events import Event
from pipeline.log.base import LogRecord
from pipeline.store.batch import POSITION, Accepted, Batch, BatchTables
from pipeline.store.columns import batch_tables, preferences, utc_times
from pipeline.store.rows import FACT_TABLE_OF_TYPE, preference
from tests import strategies

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


def _row_wise(accepted: Sequence[Accepted]) -> BatchTables:
    """`batch_tables` before #15: a dict per event, Arrow inferring the types."""
    events: dict[str, list[Any]] = {
        c: []
        for c in (
            POSITION,
            "partition",
            "offset",
            "event_id",
            "event_type",
            "event_time",
            "account_id",
            "body",
            "id_hash",
        )
    }
    facts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for pos, a in enumerate(accepted):
        events[POSITION].append(pos)
        events["partition"].append(a.partition)
        events["offset"].append(a.offset)
        events["event_id"].append(a.event_id)
        events["event_type"].append(a.event_type)
        events["event_time"].append(a.event_time)
        events["account_id"].append(a.account_id)
        events["body"].append(a.body)
        # the first 8 bytes of the id's MD5, as DuckDB's `schema.id_hash` (since #15)
        events["id_hash"].append(int.from_bytes(hashlib.md5(a.event_id.encode()).digest()[:8]))
        row = dict(a.record)
        if a.event_type == "RoleAssumed":
            tags = a.record["session_tags"]
            row["session_tags"] = json.dumps(tags, sort_keys=True) if tags else "{}"
            row["pref"] = preference(
                str(a.record["via"]), a.record["event_time"], str(a.record["event_id"])
            )
        row[POSITION] = pos
        facts[FACT_TABLE_OF_TYPE[a.event_type]].append(row)
    types = {
        POSITION: pa.int64(),
        "partition": pa.int32(),
        "offset": pa.int64(),
        "event_id": pa.string(),
        "event_type": pa.string(),
        "account_id": pa.string(),
        "body": pa.binary(),
        "id_hash": pa.uint64(),
    }
    return BatchTables(
        pa.table({c: pa.array(v, types.get(c)) for c, v in events.items()}),
        {table: pa.Table.from_pylist(rows) for table, rows in facts.items()},
    )


def _batch(records: Sequence[tuple[str, dict[str, Any]]]) -> list[Accepted]:
    """The accepted items of these records, as the materializer decodes them."""
    codec = default_codec()
    items = [
        LogRecord(i % 3, 100 + i, None, codec.encode_record(event_type, record))
        for i, (event_type, record) in enumerate(records)
    ]
    batch = decode_items("log", items, codec)
    assert not batch.rejected and batch.accepted_count == len(records)
    return _accepted(items)


def _accepted(items: Sequence[LogRecord]) -> list[Accepted]:
    """Each item's `Accepted`, decoded one by one (the decoder hands tables alone)."""
    codec = default_codec()
    decoded = [(item, *codec.decode_record(item.value)) for item in items]
    return [Accepted.of_record(i.partition, i.offset, t, r, i.value) for i, t, r in decoded]


def _env(event_id: str, minutes: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_time": T0 + timedelta(minutes=minutes),
        "account_id": "111122223333",
        "source": "CLOUDTRAIL",
    }


def _assumed(event_id: str, minutes: int, full: bool) -> dict[str, Any]:
    """A RoleAssumed with every optional field set (`full`) or left out."""
    some = (lambda value: value) if full else (lambda value: None)
    return {
        **_env(event_id, minutes),
        "session_id": f"ASIA{event_id}",
        "role_arn": some("arn:aws:iam::111122223333:role/R"),
        "session_name": some("alice"),
        "session_arn": some("arn:aws:sts::111122223333:assumed-role/R/alice"),
        "via": "INFERRED" if full else "ASSUME_ROLE",
        "caller_arn": some("arn:aws:iam::111122223333:user/alice"),
        "caller_type": some("IAMUser"),
        "caller_access_key_id": some("AKIA1"),
        "source_identity": some("alice@example.com"),
        "session_tags": {"team": "ops", "Cost": 'é"1'} if full else {},
        "transitive_tag_keys": ["team"] if full else [],
        "session_policy": some('{"Version": "2012-10-17"}'),
        "session_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"] if full else [],
        "mfa_authenticated": some(True),
        "source_ip": some("10.0.0.1"),
        "user_agent": some("aws-cli"),
        "requested_duration_seconds": some(3600),
        "lifecycle_key": some("console:alice"),
        "start_estimated": full,
    }


def _mixed() -> list[tuple[str, dict[str, Any]]]:
    """Every event type, each optional field both set and null, in an interleaved order."""
    out: list[tuple[str, dict[str, Any]]] = []
    for i, full in enumerate((True, False, True)):
        some = (lambda value: value) if full else (lambda value: None)
        out += [
            ("RoleAssumed", _assumed(f"ra{i}", i, full)),
            (
                "AccessRecorded",
                {
                    **_env(f"ar{i}", i),
                    "access_key_id": some("ASIA1"),
                    "session_id": some("ASIA1"),
                    "principal_arn": some("arn:aws:iam::111122223333:role/R"),
                    "action": "s3:GetObject",
                    "resources": ["arn:aws:s3:::b/k", "arn:aws:s3:::b"] if full else [],
                    "outcome": "ALLOWED" if full else "DENIED",
                    "error_code": None if full else "AccessDenied",
                    "source_ip": some("10.0.0.1"),
                    "user_agent": some("aws-cli"),
                    "region": some("eu-west-1"),
                },
            ),
            (
                "CredentialIssued",
                {
                    **_env(f"ci{i}", i),
                    "session_id": "ASIA1",
                    "access_key_id": "ASIA1",
                    "issued_at": T0,
                    "expires_at": some(T0 + timedelta(hours=1)),
                },
            ),
            (
                "RoleExited",
                {
                    **_env(f"rx{i}", i),
                    "session_id": "ASIA1" if full else None,
                    "lifecycle_key": None if full else "console:alice",
                    "reason": "CONSOLE_EXIT",
                },
            ),
            (
                "SessionsRevoked",
                {
                    **_env(f"sr{i}", i),
                    "role_arn": "arn:aws:iam::111122223333:role/R",
                    "issued_before": T0 - timedelta(days=400 * i),
                },
            ),
            (
                "PolicyChanged",
                {
                    **_env(f"pc{i}", i),
                    "target_type": "ROLE",
                    "target_arn": "arn:aws:iam::111122223333:role/R",
                    "change_type": "PUT_INLINE_POLICY",
                    "policy_arn": some("arn:aws:iam::aws:policy/ReadOnlyAccess"),
                    "policy_name": some("p"),
                    "policy_document": some("{}"),
                    "policy_version_id": some("v2"),
                    "set_as_default": some(False),
                    "group_name": some("admins"),
                },
            ),
        ]
    return [out[i] for i in (*range(0, len(out), 2), *range(1, len(out), 2))]


def _assert_same(new: BatchTables, old: BatchTables, *, typed_nulls: bool = False) -> None:
    """The same tables; with `typed_nulls`, a column the old ones typed as null (it held
    no value) may have the store's type in the new ones, with the same (null) values."""
    assert new.events.equals(old.events)
    assert list(new.facts) == list(old.facts)
    for name, table in old.facts.items():
        if not typed_nulls:
            assert new.facts[name].equals(table), name
            continue
        assert new.facts[name].column_names == table.column_names, name
        assert new.facts[name].to_pylist() == table.to_pylist(), name
        for field in table.schema:
            got = new.facts[name].schema.field(field.name).type
            if field.type not in (pa.null(), pa.list_(pa.null())):
                assert got == field.type, (name, field.name)


def test_a_mixed_batch_is_the_same_column_wise_as_row_by_row() -> None:
    accepted = _batch(_mixed())
    new, old = batch_tables(accepted), _row_wise(accepted)
    _assert_same(new, old)
    assert set(new.facts) == set(FACT_TABLE_OF_TYPE.values())
    assert new.facts["role_assumptions"]["session_tags"].to_pylist()[0] == (
        '{"Cost": "\\u00e9\\"1", "team": "ops"}'
    )
    # The materializer's own tables are these.
    codec = default_codec()
    items = [LogRecord(0, i, None, codec.encode_record(t, r)) for i, (t, r) in enumerate(_mixed())]
    decoded = decode_items("log", items, codec)
    assert decoded.tables is not None
    _assert_same(decoded.tables, _row_wise(_accepted(items)))


def test_columns_without_a_value_have_the_stores_types() -> None:
    """Only the empty optional fields: Arrow inferred nulls, the columns keep their types."""
    records = [(t, r) for t, r in _mixed() if r["event_id"].endswith("1")]
    accepted = _batch(records)
    new, old = batch_tables(accepted), _row_wise(accepted)
    _assert_same(new, old, typed_nulls=True)
    types = new.facts["role_assumptions"].schema
    assert types.field("session_policy").type == pa.string()
    assert types.field("session_policy_arns").type == pa.list_(pa.string())
    assert types.field("mfa_authenticated").type == pa.bool_()
    assert new.facts["credentials"].schema.field("expires_at").type == pa.timestamp("us", "UTC")


def test_an_empty_batch_has_no_fact_tables() -> None:
    tables = batch_tables([])
    assert tables.facts == {} and tables.events.num_rows == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(strategies.any_event, min_size=1, max_size=15))
def test_any_events_are_the_same_column_wise(events: list[Event]) -> None:
    codec = default_codec()
    accepted = [Accepted.of_event(i % 2, i, e, codec.encode(e)) for i, e in enumerate(events)]
    _assert_same(batch_tables(accepted), _row_wise(accepted), typed_nulls=True)


@given(
    st.lists(
        st.tuples(
            st.datetimes(timezones=st.just(UTC)) | st.none(),
            st.sampled_from(["INFERRED", "ASSUME_ROLE", "SAML"]),
            st.text(max_size=8),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_times_and_preferences_on_columns_are_those_of_each_row(
    rows: list[tuple[datetime | None, str, str]],
) -> None:
    times = [t for t, _, _ in rows]
    assert utc_times(times).to_pylist() == pa.array(times, pa.timestamp("us", "UTC")).to_pylist()
    dated = [(t, via, eid) for t, via, eid in rows if t is not None]
    if dated:
        got = preferences(
            pa.array([via for _, via, _ in dated]),
            utc_times([t for t, _, _ in dated]),
            pa.array([eid for _, _, eid in dated]),
        )
        assert got.to_pylist() == [preference(via, t, eid) for t, via, eid in dated]


def test_positions_reached_are_those_advance_leaves_in_the_same_order() -> None:
    """Partitions interleaved and out of order: each one's next offset, in the order
    the partitions first appear (what `Batch.advance` per item left)."""
    codec = default_codec()
    records = _mixed()
    partitions = [3, 1, 3, 2, 0, 1, 2, 3, 0]
    items = [
        LogRecord(partitions[i % len(partitions)], 50 + i, None, codec.encode_record(t, r))
        for i, (t, r) in enumerate(records)
    ]
    batch = decode_items("log", items, codec)
    expected = Batch("log")
    for item in items:
        expected.advance(item.partition, item.offset + 1)
    assert list(batch.next_offsets.items()) == list(expected.next_offsets.items())
    assert list(batch.next_offsets) == [3, 1, 2, 0]


@settings(max_examples=50, deadline=None)
@given(ids=st.lists(st.text(st.characters(blacklist_categories=("Cs",))), max_size=40))
def test_the_batch_id_hashes_are_duckdbs(ids: list[str]) -> None:
    """The events' `id_hash`, computed with the batch's tables, is the number DuckDB's
    `schema.id_hash` gives (the stored ones were written by it, and probes compare them)."""
    import duckdb

    from pipeline.store.columns import id_hashes
    from pipeline.store.schema import id_hash

    con = duckdb.connect()
    table = pa.table({"event_id": pa.array(ids, pa.string())})
    con.register("t", table)
    sql = f"SELECT {id_hash('event_id')} FROM t"  # noqa: S608 (a constant expression)
    want = [h for (h,) in con.execute(sql).fetchall()]
    assert id_hashes(ids).to_pylist() == want
