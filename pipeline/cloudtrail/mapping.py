"""One CloudTrail record -> the events it means (IAM_REFERENCE.md sections 1-3).

    STS issuers           -> RoleAssumed + CredentialIssued (or a denied AccessRecorded)
    console sign-in       -> RoleAssumed (console session), RoleExited on ExitRole
    IAM policy changes    -> PolicyChanged (+ SessionsRevoked for AWSRevokeOlderSessions)
    calls with any key    -> AccessRecorded (+ for ASIA keys, the session inferred from the
                             call: its console session, or the key's own)

Event ids are `ct:<eventID>`, then `ct:<eventID>#1`, `#2`... when a record yields
several events, so that importing the same record again changes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from pipeline.cloudtrail.calls import inferred, is_temporary, recorded
from pipeline.cloudtrail.console import CONSOLE_EVENTS, console
from pipeline.cloudtrail.context import Draft, Record
from pipeline.cloudtrail.contract import AvroRecord, avro_record
from pipeline.cloudtrail.fields import Unmapped, is_event_name
from pipeline.cloudtrail.issuers import ISSUERS, issued
from pipeline.cloudtrail.policies import POLICY_EVENTS, policy_changed
from pipeline.cloudtrail.reader import unwrap
from pipeline.cloudtrail.redact import redact
from pipeline.events import AccessRecorded, Event, EventSource, RoleAssumed

__all__ = ["Inferred", "RecordMapper", "Unmapped"]

NOT_ROLE_RELATED = "not role-related"

_SOURCE = {"source": EventSource.CLOUDTRAIL}
# (event type, Avro record): an event as the log encodes it, without its model.
Mapped = tuple[str, AvroRecord]


T = TypeVar("T")
# An event's class and its fields (envelope included) -> what the caller keeps of it: the
# Avro record (`avro_record`), or the encoded message. Raises pydantic's
# `ValidationError` for fields the model refuses.
Make = Callable[[type, AvroRecord], T]


@dataclass(frozen=True, slots=True)
class Inferred(Generic[T]):
    """The session of a temporary key as one of its calls tells it.

    `remember`: the start is recorded (every call of the key yields these same events),
    so once per key is enough; otherwise each call says its own (see `calls.inferred`).
    An importer that maps files apart drops the ones a key already had (`import_file`).
    """

    key: str
    remember: bool
    events: list[T]


class RecordMapper:
    """Maps records to events, remembering (boundedly) which keys' sessions it inferred."""

    def __init__(self, *, remember_keys: int = 1_000_000) -> None:
        self._inferred: OrderedDict[str, None] = OrderedDict()
        self._remember = remember_keys
        self.inferred_sessions = 0

    def map(self, raw: Any) -> list[Event]:
        """The events of one record; raises `Unmapped` with the reason when there are none."""
        raw = redact(raw)  # before anything is read from it: no secret reaches an event
        if not isinstance(raw, dict):
            raise Unmapped("not a JSON object")
        rec = Record.read(unwrap(raw))
        drafts = self._drafts(rec)
        events = [
            _build(rec, f"ct:{rec.event_id}" if i == 0 else f"ct:{rec.event_id}#{i}", draft)
            for i, draft in enumerate(drafts)
        ]
        key = rec.access_key
        if key is not None and is_temporary(key) and key not in self._inferred:
            events.extend(self._infer(rec, key))
        return events

    def map_records(self, raw: Any) -> tuple[list[Mapped], Inferred[Mapped] | None]:
        """`map` without models: the Avro records of the record's events, then its key's
        inferred session (None when this mapper already inferred it, or cannot).

        The records are what `map` gives through `model_dump()` (held equal by tests);
        each is checked against the contract (`contract.avro_record`). Raises `Unmapped`
        with the same reasons as `map`.
        """
        return self.map_with(raw, avro_record)

    def map_with(self, raw: Any, make: Make[T]) -> tuple[list[T], Inferred[T] | None]:
        """`map_records` with `make` in the place of `avro_record`: the importer makes
        the events' messages straight from their fields (`MessageEncoder.message`)."""
        raw = redact(raw)
        if not isinstance(raw, dict):
            raise Unmapped("not a JSON object")
        rec = Record.read(unwrap(raw))
        drafts = self._drafts(rec)
        envelope = {
            "event_time": rec.time,
            "account_id": rec.account,
            "source": EventSource.CLOUDTRAIL,
        }
        base = f"ct:{rec.event_id}"
        events: list[T] = []
        for i, (cls, fields) in enumerate(drafts):
            _enveloped(fields, base if i == 0 else f"{base}#{i}", envelope)
            try:
                events.append(make(cls, fields))
            except ValidationError as exc:
                raise _invalid(cls, exc) from None
        key = rec.access_key
        inferred = None
        if key is not None and is_temporary(key) and key not in self._inferred:
            inferred = self._infer_records(rec, key, make)
        return events, inferred

    def _infer_records(self, rec: Record, key: str, make: Make[T]) -> Inferred[T] | None:
        found = inferred(rec, key)
        if found is None:
            return None
        try:
            events = [
                make(cls, _enveloped(fields, event_id, _SOURCE))
                for event_id, (cls, fields) in found
            ]
        except ValidationError:
            return None  # the call still counts; its session is just not inferable
        # The first is the RoleAssumed, whose fields always say whether its start is known.
        if found[0][1][1].get("start_estimated"):
            return Inferred(key, False, events)
        self._remember_key(key)
        return Inferred(key, True, events)

    def _remember_key(self, key: str) -> None:
        self._inferred[key] = None
        if len(self._inferred) > self._remember:
            self._inferred.popitem(last=False)

    def _drafts(self, rec: Record) -> list[Draft]:
        drafts: list[Draft] = []
        name, source = rec.name, rec.source
        if name in ISSUERS and source in (None, "sts.amazonaws.com"):
            drafts = issued(rec)
        elif name in CONSOLE_EVENTS and source in (None, "signin.amazonaws.com"):
            drafts = console(rec)
        elif name in POLICY_EVENTS and source in (None, "iam.amazonaws.com") and not rec.error_code:
            drafts = policy_changed(rec)
        # A call made with a key is an action of its session (or, for a long-term key, of
        # its IAM user); a successful issuer is not (its caller's key links the chain).
        if (
            rec.access_key is not None
            and is_event_name(name)
            and not any(d[0] is AccessRecorded for d in drafts)
            and not (drafts and name in ISSUERS)
        ):
            drafts.append(recorded(rec))
        if not drafts:
            raise Unmapped(NOT_ROLE_RELATED, name)
        return drafts

    def _infer(self, rec: Record, key: str) -> list[Event]:
        found = inferred(rec, key)
        if found is None:
            return []
        try:
            events = [
                cls(event_id=event_id, source=EventSource.CLOUDTRAIL, **fields)
                for event_id, (cls, fields) in found
            ]
        except ValidationError:
            return []  # the call still counts; its session is just not inferable
        assumed = events[0]
        if isinstance(assumed, RoleAssumed) and assumed.start_estimated:
            # Without a recorded start each call may be the earliest: each one says it.
            return events
        # Every call of the key yields these same events: once is enough.
        self._remember_key(key)
        self.inferred_sessions += 1
        return events


def _enveloped(fields: dict[str, Any], event_id: str, envelope: dict[str, Any]) -> dict[str, Any]:
    """`fields` with the event id and the envelope where the draft does not set them: as
    `{"event_id": ..., **envelope, **fields}`, in the draft's own dict (each is made for
    one event and read by no one else), not a copy of it for every event."""
    fields.setdefault("event_id", event_id)
    for key, value in envelope.items():
        fields.setdefault(key, value)
    return fields


def _build(rec: Record, event_id: str, draft: Draft) -> Event:
    cls, fields = draft
    try:
        event: Event = cls(
            event_id=event_id,
            event_time=rec.time,
            account_id=rec.account,
            source=EventSource.CLOUDTRAIL,
            **fields,
        )
    except ValidationError as exc:
        raise _invalid(cls, exc) from None
    return event


def _invalid(cls: type, exc: ValidationError) -> Unmapped:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "record"
    return Unmapped(f"invalid {cls.__name__}.{where}", first.get("msg"))
