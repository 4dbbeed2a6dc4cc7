"""The import's written-out checks decide as the contract's rules do, byte for byte.

`contract.vouch_function` writes `Shape.vouch` out per event type, and
`contract.checked_writer` checks and encodes in one pass (`encoder.MessageEncoder`):
both are held here to the general path (`Shape.vouch`; `avro_record` then the codec) on
simulated events and on the same events with fields dropped, added or given values of
every kind the rules must refuse or let through.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.cloudtrail.contract import _SHAPES, avro_record, partition_key, vouch_function
from pipeline.cloudtrail.encoder import MessageEncoder
from pipeline.codec import default_codec
from pipeline.events import EVENT_TYPES, AccessOutcome, EventSource
from pipeline.simulator import SimulationConfig, simulate
from pipeline.timeutil import parse_time

_ODD: list[Any] = [
    None, "", "x", "x" * 5000, "s\ud800", "é", "\u0661" * 12, "123456789012", "12345678901",
    0, -1, 10**9, 2**70, True, False, 1.5, [], ["a"], [1], {}, {"a": "b"}, {"a": 1},
    datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1),
    datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1))), datetime(1990, 1, 1, tzinfo=UTC),
    AccessOutcome.DENIED, "DENIED", EventSource.CLOUDTRAIL,
]  # fmt: skip


def _variants() -> list[tuple[type, dict[str, Any]]]:
    """Simulated events' fields, and each one changed at random (seeded)."""
    config = SimulationConfig(start=parse_time("2026-01-05"), days=2, seed=3, events=1500)
    by_type = {cls.event_type: cls for cls in EVENT_TYPES}
    rnd = random.Random(7)
    out: list[tuple[type, dict[str, Any]]] = []
    for event in simulate(config):
        cls, fields = by_type[event.event_type], event.model_dump()
        out.append((cls, fields))
        for _ in range(4):
            changed = dict(fields)
            roll = rnd.random()
            if roll < 0.65:
                changed[rnd.choice(list(changed))] = rnd.choice(_ODD)
            elif roll < 0.9:
                del changed[rnd.choice(list(changed))]
            else:
                changed["not_a_field"] = "x"
            out.append((cls, changed))
    return out


_VARIANTS = _variants()


def test_the_variants_cover_every_event_type_and_both_answers() -> None:
    vouched = {cls for cls, fields in _VARIANTS if _SHAPES[cls].vouch(dict(fields)) is not None}
    refused = {cls for cls, fields in _VARIANTS if _SHAPES[cls].vouch(dict(fields)) is None}
    assert len(vouched) >= 5 and len(refused) >= 5


def test_the_written_out_vouch_answers_as_the_shape_does() -> None:
    vouch = {cls: vouch_function(shape) for cls, shape in _SHAPES.items()}
    for cls, fields in _VARIANTS:
        assert vouch[cls](dict(fields)) == _SHAPES[cls].vouch(dict(fields)), (cls, fields)


def _general(cls: type, fields: dict[str, Any]) -> tuple[bytes, bytes, str]:
    event_type, record = avro_record(cls, fields)
    key = partition_key(event_type, record).encode("utf-8")
    return key, default_codec().encode_record(event_type, record), event_type


def _outcome(make: Any, cls: type, fields: dict[str, Any]) -> object:
    try:
        return make(cls, dict(fields))
    except ValidationError as exc:
        return ("refused", exc.errors()[0]["loc"], exc.errors()[0]["msg"])


def test_the_checked_writer_gives_the_general_paths_messages_and_refusals() -> None:
    encoder = MessageEncoder(default_codec())
    assert encoder.checked == {cls.event_type for cls in EVENT_TYPES}  # the quick path is used
    for cls, fields in _VARIANTS:
        assert _outcome(encoder.message, cls, fields) == _outcome(_general, cls, fields)


@pytest.mark.parametrize("cls", EVENT_TYPES)
def test_the_fields_a_partition_key_reads_are_required_or_none_by_default(cls: type) -> None:
    """The checked path takes the key from the fields, without the defaults."""
    shape = _SHAPES[cls]
    for name in ("session_id", "lifecycle_key", "role_arn", "target_arn", "access_key_id",
                 "principal_arn", "event_id"):  # fmt: skip
        if name in shape.checks:
            assert name in shape.required or shape.defaults.get(name) is None
