"""A batch's accepted events as Arrow tables, the form the writer bulk-inserts.

Built once per batch, outside the store's transaction (the materializer builds it while
the previous batch is being written), for every accepted item; the writer then keeps the
rows of the events it actually stores. `_pos` is each row's item position.

Built column-wise: each event type's records become one Arrow struct array, converted in
C++ with the types of the Avro schema that decoded them, so no Python runs per field;
times are converted apart (see `utc_times`), and an assumption's preference is computed
on whole columns. Python runs per record only for a session's tags (canonical JSON) and
an event's `id_hash` (an MD5, which Arrow does not compute).
"""

from __future__ import annotations

import hashlib
import operator
import struct
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from itertools import repeat
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.contract_rules import SHAPES
from pipeline.events import AssumeVia
from pipeline.store.batch import POSITION, Accepted, Batch, BatchTables
from pipeline.store.rows import FACT_TABLE_OF_TYPE, session_tags_json

# The events table's columns known before storing (the chain hash depends on the store).
EVENT_COLUMNS = (
    "partition",
    "offset",
    "event_id",
    "event_type",
    "event_time",
    "account_id",
    "body",
)


def prepare(batch: Batch) -> Batch:
    """The batch, its tables built (once: they are kept on it) on the calling thread."""
    if batch.tables is None:
        batch.tables = batch_tables(batch.accepted)
    return batch


def batch_tables(accepted: Sequence[Accepted]) -> BatchTables:
    if not accepted:
        return tables_of([], [], [], [], [])
    partitions, offsets, _, event_types, _, _, records, bodies = zip(*accepted, strict=True)
    return tables_of(partitions, offsets, event_types, records, bodies)


def tables_of(
    partitions: Sequence[int],
    offsets: Sequence[int],
    event_types: Sequence[str],
    records: Sequence[Mapping[str, Any]],
    bodies: Sequence[bytes],
) -> BatchTables:
    """The tables of the accepted items whose columns these are (item `i` at `_pos` i)."""
    count = len(records)
    # The positions grouped by event type, each group in position order (a stable sort),
    # so every fact table holds its rows in the batch's order.
    order = sorted(range(count), key=event_types.__getitem__)
    grouped = list(map(event_types.__getitem__, order))
    groups: dict[str, tuple[int, int]] = {}
    low = 0
    while low < count:
        high = bisect_right(grouped, grouped[low], low)
        groups[grouped[low]] = (low, high)
        low = high
    facts: dict[str, pa.Table] = {}
    for event_type in dict.fromkeys(event_types):  # tables in the order types first appear
        low, high = groups[event_type]
        positions = order[low:high]
        rows = list(map(records.__getitem__, positions))
        facts[FACT_TABLE_OF_TYPE[event_type]] = _fact_table(event_type, rows, positions)
    return BatchTables(_events_table(partitions, offsets, event_types, bodies, facts), facts)


def _fact_table(event_type: str, records: list[Any], positions: list[int]) -> pa.Table:
    layout = _layout(event_type)
    table = pa.Table.from_struct_array(pa.array(records, layout.values))
    # The columns Arrow would convert slowly, each put back at its place in the schema.
    for index, name, kind in layout.apart:
        values = list(map(itemgetter(name), records))
        column = utc_times(values) if kind == "time" else _tags_column(values)
        table = table.add_column(index, name, column)
    if event_type == "RoleAssumed":
        prefs = preferences(table["via"], table["event_time"], table["event_id"])
        table = table.append_column("pref", prefs)
    return table.append_column(POSITION, pa.array(positions, pa.int64()))


def utc_times(values: list[Any]) -> pa.Array:
    """Aware UTC datetimes (or None) as an Arrow column of UTC microseconds.

    Through their distance from the epoch: Arrow converts a `timedelta` in C, but asks an
    aware `datetime` for its offset through Python, five times slower.
    """
    try:
        since = list(map(operator.sub, values, repeat(_EPOCH)))
    except TypeError:  # a null, or a time without a zone
        try:
            since = [None if v is None else v - _EPOCH for v in values]
        except TypeError:
            return pa.array(values, _UTC_TIME)  # Arrow reads a time without a zone as UTC
    return pa.array(since, pa.duration("us")).view(_UTC_TIME)


def preferences(via: Any, event_time: Any, event_id: Any) -> Any:
    """`rows.preference` of each row of an assumptions table, on whole columns."""
    micros = event_time.cast(pa.int64())
    # `{micros:020d}`: twenty digits, or a minus sign and nineteen.
    digits = pc.cast(pc.abs(micros), pa.string())
    padded = pc.if_else(
        pc.less(micros, 0),
        pc.binary_join_element_wise("-", pc.utf8_lpad(digits, 19, "0"), ""),
        pc.utf8_lpad(digits, 20, "0"),
    )
    rank = pc.if_else(pc.equal(via, AssumeVia.INFERRED.value), "1", "0")
    return pc.binary_join_element_wise(rank, padded, event_id, "|")


def _tags_column(values: list[Any]) -> pa.Array:
    return pa.array(list(map(session_tags_json, values)), pa.string())


def _events_table(
    partitions: Sequence[int],
    offsets: Sequence[int],
    event_types: Sequence[str],
    bodies: Sequence[bytes],
    facts: dict[str, pa.Table],
) -> pa.Table:
    # The event's own columns are already in its fact row: gathered back into position
    # order in C++, not read again from the records.
    own = ["event_id", "event_time", "account_id"]
    if facts:
        gathered = pa.concat_tables([t.select([POSITION, *own]) for t in facts.values()])
        gathered = gathered.take(pc.sort_indices(gathered[POSITION]))
    else:
        gathered = pa.table({c: pa.array([], _EVENT_TYPES[c]) for c in (POSITION, *own)})
    return pa.table(
        {
            POSITION: gathered[POSITION],
            "partition": pa.array(partitions, pa.int32()),
            "offset": pa.array(offsets, pa.int64()),
            "event_id": gathered["event_id"],
            "event_type": pa.array(event_types, pa.string()),
            "event_time": gathered["event_time"],
            "account_id": gathered["account_id"],
            "body": pa.array(bodies, pa.binary()),
            "id_hash": id_hashes(gathered["event_id"].to_pylist()),
        }
    )


def id_hashes(ids: Sequence[str]) -> pa.Array:
    """`schema.id_hash` of each id, the same numbers (the first 8 bytes of its UTF-8's
    MD5), computed with the batch's tables: in the decoding process, not by the writer's
    DuckDB, which computed it twice a batch (for its probe, then its insert)."""
    md5, first = hashlib.md5, _FIRST_8_BYTES.unpack_from
    return pa.array([first(md5(i.encode()).digest())[0] for i in ids], pa.uint64())


_FIRST_8_BYTES = struct.Struct(">Q")


def doubtful(tables: BatchTables) -> list[int]:
    """Positions (`_pos`) of the items whose fact rows the contract's quick
    rules, checked on whole columns, cannot vouch for: the model decides those."""
    out: list[int] = []
    for table_name, table in tables.facts.items():
        shape = SHAPES[_EVENT_TYPE_OF_TABLE[table_name]]
        held = shape.vouched_rows(table, _NOT_FIELDS)
        if not pc.all(held).as_py():
            out.extend(pc.filter(table[POSITION], pc.invert(held)).to_pylist())
    return sorted(out)


@dataclass(frozen=True)
class _Layout:
    """How one event type's records become its fact table's columns."""

    values: pa.StructType  # the fields Arrow converts as they are, in the schema's order
    # (column index, name, "time" or "tags") of the fields converted apart: times (see
    # `utc_times`) and maps (stored as canonical JSON)
    apart: tuple[tuple[int, str, str], ...]


@cache
def _layout(event_type: str) -> _Layout:
    # Imported here: the writer imports this module, and needs the codec only with it.
    from pipeline.codec import SCHEMA_DIR, load_schema_file

    schema = load_schema_file(SCHEMA_DIR / f"{event_type}.avsc")
    values: list[pa.Field] = []
    apart: list[tuple[int, str, str]] = []
    for index, field in enumerate(schema["fields"]):
        avro_type = field["type"]
        if isinstance(avro_type, list):  # ["null", T]: an optional T
            (avro_type,) = [t for t in avro_type if t != "null"]
        if isinstance(avro_type, dict) and avro_type.get("type") == "map":
            apart.append((index, field["name"], "tags"))
            continue
        arrow_type = _arrow_type(avro_type)
        if arrow_type == _UTC_TIME:
            apart.append((index, field["name"], "time"))
        else:
            values.append(pa.field(field["name"], arrow_type))
    return _Layout(pa.struct(values), tuple(apart))


def _arrow_type(avro_type: Any) -> pa.DataType:
    """The Arrow type of an Avro type's values as fastavro decodes them (what Arrow would
    infer from the values, and what the store's column holds). An Avro type not listed
    fails loudly: its column needs a deliberate type here first."""
    if isinstance(avro_type, str) and avro_type in _ARROW_OF_AVRO:
        return _ARROW_OF_AVRO[avro_type]
    if isinstance(avro_type, dict):
        kind = avro_type.get("logicalType") or avro_type["type"]
        if kind == "timestamp-micros":
            return _UTC_TIME
        if kind == "enum":
            return pa.string()
        if kind == "array":
            return pa.list_(_arrow_type(avro_type["items"]))
    raise TypeError(f"no Arrow column type for the Avro type {avro_type!r}")


_UTC_TIME = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ARROW_OF_AVRO = {"string": pa.string(), "long": pa.int64(), "boolean": pa.bool_()}
# The columns of a fact row that are not the event's fields.
_NOT_FIELDS = frozenset({POSITION, "pref"})
_EVENT_TYPE_OF_TABLE = {t: event_type for event_type, t in FACT_TABLE_OF_TYPE.items()}
_EVENT_TYPES = {
    POSITION: pa.int64(),
    "partition": pa.int32(),
    "offset": pa.int64(),
    "event_id": pa.string(),
    "event_type": pa.string(),
    "event_time": _UTC_TIME,
    "account_id": pa.string(),
    "body": pa.binary(),
    "id_hash": pa.uint64(),
}
