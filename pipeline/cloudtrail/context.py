"""One CloudTrail record, read once into the fields every mapping rule needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.cloudtrail.fields import Unmapped, account_of, obj, text
from pipeline.cloudtrail.times import BadTime, parse_iso

# An event to build: its class and its fields, without the envelope.
Draft = tuple[type, dict[str, Any]]

_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "Client.UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
        "Forbidden",
    }
)


def is_denied(error_code: str | None) -> bool:
    return error_code is not None and (error_code in _DENIED_CODES or error_code.endswith("Denied"))


def _account(value: Any) -> str | None:
    if isinstance(value, str) and len(value) == 12 and value.isdigit():
        return value
    return None


# Not frozen, though no rule changes it: a frozen dataclass sets each field through
# `object.__setattr__`, which took two microseconds a record here.
@dataclass(slots=True)
class Record:
    """The parts of a record that every rule reads (the raw record stays at hand)."""

    raw: dict[str, Any]
    event_id: str
    name: str
    source: str | None
    time: datetime
    account: str
    identity: dict[str, Any]
    request: dict[str, Any]
    response: dict[str, Any]
    error_code: str | None
    # Read by several rules for each record: read once.
    access_key: str | None
    caller_arn: str | None
    user_agent: str | None

    @classmethod
    def read(cls, raw: dict[str, Any]) -> Record:
        event_id = text(raw, "eventID", limit=256)
        if event_id is None:
            raise Unmapped("missing eventID")
        name = text(raw, "eventName", limit=256)
        if name is None:
            raise Unmapped("missing eventName")
        when = raw.get("eventTime", raw.get("@timestamp"))
        if when is None:
            raise Unmapped("missing eventTime")
        try:
            time = parse_iso(when)
        except BadTime:
            raise Unmapped("bad eventTime", str(when)[:60]) from None
        identity = obj(raw, "userIdentity")
        account = (
            _account(raw.get("recipientAccountId"))
            or _account(identity.get("accountId"))
            or account_of(text(identity, "arn", limit=2048))
        )
        if account is None:
            raise Unmapped("missing account id")
        return cls(
            raw=raw,
            event_id=event_id,
            name=name,
            source=text(raw, "eventSource", limit=256),
            time=time,
            account=account,
            identity=identity,
            request=obj(raw, "requestParameters"),
            response=obj(raw, "responseElements"),
            error_code=text(raw, "errorCode", limit=256),
            access_key=text(identity, "accessKeyId", limit=128),
            caller_arn=text(identity, "arn", limit=2048),
            user_agent=text(raw, "userAgent", limit=1024),
        )

    @property
    def caller_type(self) -> str | None:
        return text(self.identity, "type", limit=64)

    @property
    def source_ip(self) -> str | None:
        return text(self.raw, "sourceIPAddress", limit=1024)

    @property
    def region(self) -> str | None:
        return text(self.raw, "awsRegion", limit=64)

    @property
    def extra(self) -> dict[str, Any]:
        return obj(self.raw, "additionalEventData")

    def resource_arns(self) -> list[str]:
        listed = self.raw.get("resources")
        out: list[str] = []
        if isinstance(listed, list):
            for item in listed:
                arn = text(item, "ARN", limit=2048) or text(item, "arn", limit=2048)
                if arn:
                    out.append(arn)
        return out
