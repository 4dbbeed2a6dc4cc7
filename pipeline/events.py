"""The event contract: pydantic models that mirror `schemas/*.avsc` one to one.

Every event is an immutable fact with the envelope of DESIGN.md (`event_id`,
`event_time`, `account_id`, `source`). Consumers work with these models and never
touch Avro; `pipeline.codec` is the one place that turns them into bytes and back.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# EARLIEST and LATEST are re-exported: sources check their times against them.
from pipeline.timeutil import EARLIEST as EARLIEST
from pipeline.timeutil import LATEST as LATEST
from pipeline.timeutil import utc_in_range

UtcTime = Annotated[datetime, AfterValidator(utc_in_range)]
AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
Text = Annotated[str, Field(min_length=1, max_length=4096)]
LongText = Annotated[str, Field(max_length=200_000)]


class EventSource(StrEnum):
    CLOUDTRAIL = "CLOUDTRAIL"
    SIMULATOR = "SIMULATOR"
    API = "API"


class AssumeVia(StrEnum):
    """How a session began."""

    ASSUME_ROLE = "ASSUME_ROLE"
    SAML = "SAML"
    WEB_IDENTITY = "WEB_IDENTITY"
    CONSOLE_SWITCH_ROLE = "CONSOLE_SWITCH_ROLE"
    CONSOLE_SIGN_IN = "CONSOLE_SIGN_IN"
    AWS_SERVICE = "AWS_SERVICE"
    GET_SESSION_TOKEN = "GET_SESSION_TOKEN"
    GET_FEDERATION_TOKEN = "GET_FEDERATION_TOKEN"
    INFERRED = "INFERRED"
    OTHER = "OTHER"


class ExitReason(StrEnum):
    CONSOLE_EXIT = "CONSOLE_EXIT"
    REVOKED = "REVOKED"
    REPLACED = "REPLACED"
    OTHER = "OTHER"


class PolicyTargetType(StrEnum):
    ROLE = "ROLE"
    USER = "USER"
    GROUP = "GROUP"
    MANAGED_POLICY = "MANAGED_POLICY"


class PolicyChangeType(StrEnum):
    ATTACH_MANAGED_POLICY = "ATTACH_MANAGED_POLICY"
    DETACH_MANAGED_POLICY = "DETACH_MANAGED_POLICY"
    PUT_INLINE_POLICY = "PUT_INLINE_POLICY"
    DELETE_INLINE_POLICY = "DELETE_INLINE_POLICY"
    CREATE_POLICY_VERSION = "CREATE_POLICY_VERSION"
    SET_DEFAULT_POLICY_VERSION = "SET_DEFAULT_POLICY_VERSION"
    SET_PERMISSIONS_BOUNDARY = "SET_PERMISSIONS_BOUNDARY"
    DELETE_PERMISSIONS_BOUNDARY = "DELETE_PERMISSIONS_BOUNDARY"
    UPDATE_TRUST_POLICY = "UPDATE_TRUST_POLICY"
    ADD_USER_TO_GROUP = "ADD_USER_TO_GROUP"
    REMOVE_USER_FROM_GROUP = "REMOVE_USER_FROM_GROUP"
    OTHER = "OTHER"


class AccessOutcome(StrEnum):
    ALLOWED = "ALLOWED"
    DENIED = "DENIED"


def partition_stem(session_id: str) -> str:
    """The partition key of a session id.

    A session id is `<stem>` or `<stem>@<start>`: STS sessions use their first access key
    as id; console sessions, which have no key of their own in CloudTrail, use their
    lifecycle key (caller, role) plus the start. All events of one session, and the
    console exit that names only the lifecycle key, land on the same partition.
    """
    return session_id.split("@", 1)[0]


class Event(BaseModel):
    """The envelope every event carries."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    event_type: ClassVar[str] = "Event"

    event_id: Annotated[str, Field(min_length=1, max_length=512)]
    event_time: UtcTime
    account_id: AccountId
    source: EventSource

    def partition_key(self) -> str:
        """The log key that keeps one session's events in order on one partition."""
        return self.event_id


class RoleAssumed(Event):
    """A session began."""

    event_type: ClassVar[str] = "RoleAssumed"

    session_id: Text
    role_arn: Text | None = None
    session_name: Text | None = None
    session_arn: Text | None = None
    via: AssumeVia
    caller_arn: Text | None = None
    caller_type: Text | None = None
    caller_access_key_id: Text | None = None
    source_identity: Text | None = None
    session_tags: dict[str, str] = Field(default_factory=dict)
    transitive_tag_keys: list[str] = Field(default_factory=list)
    session_policy: LongText | None = None
    session_policy_arns: list[str] = Field(default_factory=list)
    mfa_authenticated: bool | None = None
    source_ip: Text | None = None
    user_agent: Text | None = None
    requested_duration_seconds: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    lifecycle_key: Text | None = None
    # The start is the first recorded use, not a recorded issue time (no creationDate).
    start_estimated: bool = False

    def partition_key(self) -> str:
        return partition_stem(self.session_id)


class CredentialIssued(Event):
    """An access key now belongs to a session (first key, console rotation, renewal)."""

    event_type: ClassVar[str] = "CredentialIssued"

    session_id: Text
    access_key_id: Text
    issued_at: UtcTime
    expires_at: UtcTime | None = None

    def partition_key(self) -> str:
        return partition_stem(self.session_id)

    @model_validator(mode="after")
    def _expiry_after_issue(self) -> CredentialIssued:
        if self.expires_at is not None and self.expires_at < self.issued_at:
            raise ValueError("expires_at is before issued_at")
        return self


class RoleExited(Event):
    """A session ended before its expiry.

    Console exits name no key: they carry the lifecycle key (caller, role) instead, and
    end the session of that key that was active at `event_time`.
    """

    event_type: ClassVar[str] = "RoleExited"

    session_id: Text | None = None
    lifecycle_key: Text | None = None
    reason: ExitReason

    def partition_key(self) -> str:
        if self.session_id is not None:
            return partition_stem(self.session_id)
        assert self.lifecycle_key is not None  # the validator guarantees one of the two
        return self.lifecycle_key

    @model_validator(mode="after")
    def _names_a_session(self) -> RoleExited:
        if self.session_id is None and self.lifecycle_key is None:
            raise ValueError("RoleExited needs session_id or lifecycle_key")
        return self


class SessionsRevoked(Event):
    """ "Revoke active sessions": sessions of the role issued before a time are denied."""

    event_type: ClassVar[str] = "SessionsRevoked"

    role_arn: Text
    issued_before: UtcTime

    def partition_key(self) -> str:
        return self.role_arn


class PolicyChanged(Event):
    """A role's, user's, group's or managed policy's permissions changed."""

    event_type: ClassVar[str] = "PolicyChanged"

    target_type: PolicyTargetType
    target_arn: Text
    change_type: PolicyChangeType
    policy_arn: Text | None = None
    policy_name: Text | None = None
    policy_document: LongText | None = None
    policy_version_id: Text | None = None
    set_as_default: bool | None = None
    group_name: Text | None = None

    def partition_key(self) -> str:
        return self.target_arn


class AccessRecorded(Event):
    """A call made with a key: a session's actions, and denied AssumeRole attempts."""

    event_type: ClassVar[str] = "AccessRecorded"

    access_key_id: Text | None = None
    session_id: Text | None = None
    principal_arn: Text | None = None
    action: Text
    resources: list[str] = Field(default_factory=list)
    outcome: AccessOutcome
    error_code: Text | None = None
    source_ip: Text | None = None
    user_agent: Text | None = None
    region: Text | None = None

    def partition_key(self) -> str:
        if self.session_id is not None:
            return partition_stem(self.session_id)
        return self.access_key_id or self.principal_arn or self.event_id


EVENT_TYPES: tuple[type[Event], ...] = (
    RoleAssumed,
    CredentialIssued,
    RoleExited,
    SessionsRevoked,
    PolicyChanged,
    AccessRecorded,
)
EVENT_TYPE_BY_NAME: dict[str, type[Event]] = {cls.event_type: cls for cls in EVENT_TYPES}
