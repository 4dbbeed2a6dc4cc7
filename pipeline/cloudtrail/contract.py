"""A mapped record's drafts -> Avro records, held to the event contract without models.

The pydantic models in `pipeline.events` are the contract. Building one per event and
dumping it again cost the import about half its time, so each draft is checked against
the rules `pipeline.contract_rules` reads from those models once (lengths, patterns,
ranges, enums, UTC times in range, the model validators), and a draft that passes
becomes the Avro record as it is: the same dict `model_dump()` would give. A draft the
quick rules cannot vouch for is built through its model after all, which then decides
exactly as before (the record, or the same error), so the quick rules need only be
sufficient, never complete. `tests/test_cloudtrail_contract.py` holds the two paths equal.
"""

from __future__ import annotations

from pipeline.contract_rules import SHAPES, AvroRecord, Shape
from pipeline.events import EVENT_TYPES, partition_stem

__all__ = ["AvroRecord", "avro_record", "partition_key"]

_SHAPES: dict[type, Shape] = {cls: SHAPES[cls.event_type] for cls in EVENT_TYPES}


def avro_record(cls: type, fields: AvroRecord) -> tuple[str, AvroRecord]:
    """(event type, Avro record) of an event of class `cls` with `fields` (envelope
    included). Raises pydantic's `ValidationError` exactly when `cls(**fields)` would.
    """
    shape = _SHAPES[cls]
    record = shape.vouch(fields)
    if record is None:
        record = shape.cls(**fields).model_dump()
    return shape.event_type, record


def partition_key(event_type: str, record: AvroRecord) -> str:
    """The log key of a record: what the model's `partition_key()` gives."""
    if event_type in ("RoleAssumed", "CredentialIssued"):
        return partition_stem(record["session_id"])
    if event_type == "RoleExited":
        sid = record.get("session_id")
        return partition_stem(sid) if sid is not None else str(record["lifecycle_key"])
    if event_type == "SessionsRevoked":
        return str(record["role_arn"])
    if event_type == "PolicyChanged":
        return str(record["target_arn"])
    if event_type == "AccessRecorded":
        sid = record.get("session_id")
        if sid is not None:
            return partition_stem(sid)
        return str(record.get("access_key_id") or record.get("principal_arn") or record["event_id"])
    raise KeyError(event_type)
