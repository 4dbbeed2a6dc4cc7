"""A batch's accepted events as Arrow tables, the form the writer bulk-inserts.

Built once per batch, outside the store's transaction (the materializer builds it while
the previous batch is being written), for every accepted item; the writer then keeps the
rows of the events it actually stores. `_pos` is each row's index in `Batch.accepted`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.contract_rules import SHAPES
from pipeline.store.batch import POSITION, Accepted, Batch, BatchTables
from pipeline.store.rows import FACT_TABLE_OF_TYPE, fact_row

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
    """Build the batch's tables now (on the calling thread), so the writer need not."""
    if batch.tables is None:
        batch.tables = batch_tables(batch.accepted)
    return batch


def batch_tables(accepted: Sequence[Accepted]) -> BatchTables:
    events: dict[str, list[Any]] = {c: [] for c in (POSITION, *EVENT_COLUMNS)}
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
        row = fact_row(a.event_type, a.record)
        row[POSITION] = pos
        facts[FACT_TABLE_OF_TYPE[a.event_type]].append(row)
    return BatchTables(
        pa.table({c: pa.array(v, _EVENT_TYPES.get(c)) for c, v in events.items()}),
        {table: pa.Table.from_pylist(rows) for table, rows in facts.items()},
    )


def doubtful(tables: BatchTables) -> list[int]:
    """Positions (in `Batch.accepted`) of the items whose fact rows the contract's quick
    rules, checked on whole columns, cannot vouch for: the model decides those."""
    out: list[int] = []
    for table_name, table in tables.facts.items():
        shape = SHAPES[_EVENT_TYPE_OF_TABLE[table_name]]
        held = shape.vouched_rows(table, _NOT_FIELDS)
        if not pc.all(held).as_py():
            out.extend(pc.filter(table[POSITION], pc.invert(held)).to_pylist())
    return sorted(out)


# The columns of a fact row that are not the event's fields.
_NOT_FIELDS = frozenset({POSITION, "pref"})
_EVENT_TYPE_OF_TABLE = {t: event_type for event_type, t in FACT_TABLE_OF_TYPE.items()}
_EVENT_TYPES = {
    POSITION: pa.int64(),
    "partition": pa.int32(),
    "offset": pa.int64(),
    "event_id": pa.string(),
    "event_type": pa.string(),
    "account_id": pa.string(),
    "body": pa.binary(),
}
