"""What a session's start, end and origin rest on, said in words a reader can check.

The store records, for each session, how its expiry was obtained (`expiry_basis`: the
recorded expiry, the requested duration, or the documented default for how the session
began, IAM_REFERENCE.md 1.1, 1.4 and 2a) and its first and last successful use. This
module turns those facts into the labels every reader shows: an estimate is never shown
as a record, and an unknown is never shown as `None`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.timeutil import iso

# expiry_basis code -> (the default's length, what it is the default of)
_DEFAULTS = {
    "default:console": ("12 h", "a console sign-in"),
    "default:switch-role": ("1 h", "a console switch-role"),
    "default:get-session-token": ("12 h", "GetSessionToken"),
    "default:get-federation-token": ("12 h", "GetFederationToken"),
    "default:user-session": ("12 h", "an IAM user's or root's temporary credentials"),
    "default:instance-profile": ("about 6 h", "instance-profile credentials"),
    "default:assume-role": ("1 h", "AssumeRole"),
}

# Why an origin or principal is unknown.
ISSUER_MISSING = "the issuing event is not in the data"


@dataclass(frozen=True, slots=True, kw_only=True)
class EndFacts:
    """The facts an end is derived from (times aware UTC, or None when not recorded)."""

    end_reason: str
    ends_at: datetime
    expires_at: datetime | None  # None only when the start, and so the expiry, is unknown
    expiry_basis: str
    requested_duration_seconds: int | None
    exited_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


def end_labels(f: EndFacts) -> tuple[bool, str]:
    """Whether the end is an estimate, and one phrase saying what it rests on.

    An end is recorded only when it is an exit, a revocation or a recorded expiry, and
    no successful use came after it.
    """
    recorded_end = min(t for t in (f.expires_at, f.exited_at, f.revoked_at) if t is not None)
    if f.last_used_at is not None and f.ends_at > recorded_end:
        return True, used_after_end_basis(f)
    return settled_end_labels(f.end_reason, f.expiry_basis, f.requested_duration_seconds)


def used_after_end_basis(f: EndFacts) -> str:
    """The basis of an end moved past the record by a later successful use."""
    after = {
        "revoked": f"its revocation at {iso(f.revoked_at)}",
        "exited": f"its recorded exit at {iso(f.exited_at)}",
    }.get(f.end_reason)
    if after is None:
        after = (
            f"its recorded expiry at {iso(f.expires_at)}"
            if f.expiry_basis == "recorded"
            else f"the {_expiry_phrase(f.expiry_basis, f.requested_duration_seconds)}"
        )
    return f"estimated: its last recorded use at {iso(f.last_used_at)}, after {after}"


def settled_end_labels(
    end_reason: str, expiry_basis: str, requested_duration_seconds: int | None
) -> tuple[bool, str]:
    """`end_labels` of an end no use came after: it rests on these three facts alone,
    so readers building many views compute it once per distinct triple."""
    if end_reason == "revoked":
        return False, "recorded: revoked (AWSRevokeOlderSessions)"
    if end_reason == "exited":
        return False, "recorded: exit"
    if expiry_basis == "recorded":
        return False, "recorded: credential expiry"
    # an expiry estimated from a default or a requested duration
    return (
        end_reason == "expired",
        f"estimated: {_expiry_phrase(expiry_basis, requested_duration_seconds)}",
    )


def _expiry_phrase(expiry_basis: str, requested_duration_seconds: int | None) -> str:
    if expiry_basis == "requested" and requested_duration_seconds is not None:
        return f"requested duration of {requested_duration_seconds} s from its start"
    length, kind = _DEFAULTS.get(expiry_basis, ("1 h", "AssumeRole"))
    return f"default of {length} for {kind} from its start; no expiry recorded"


def start_basis(
    *, start_estimated: bool, recorded_start: datetime | None, first_used_at: datetime | None
) -> str:
    no_record = start_estimated or recorded_start is None
    return start_basis_of(
        no_record=no_record,
        used_before_record=not no_record
        and first_used_at is not None
        and recorded_start is not None
        and first_used_at < recorded_start,
    )


def start_basis_of(*, no_record: bool, used_before_record: bool) -> str:
    """`start_basis` from the two facts it rests on (readers building many views cache
    it per pair): no recorded start (or an estimated one), and a use before the record."""
    if no_record:
        return "estimated: its first recorded use (its calls carry no creation date)"
    if used_before_record:
        return "estimated: its first recorded use, before its recorded start"
    return "recorded"


def origin_label(
    *,
    origin_arn: str | None,
    origin_type: str | None,
    resolved: bool,
    top_via: str | None,
    top_session_name: str | None,
    top_lifecycle_key: str | None,
    missing_key: str | None,
) -> str:
    """The origin in words: who or what, or unknown and why."""
    if origin_arn is None:
        if top_via == "INFERRED" and top_lifecycle_key and top_session_name:
            return (
                f"unknown: a console switch-role by a user named {top_session_name}; "
                "the SwitchRole event is not in the data"
            )
        if top_via == "INFERRED":
            return f"unknown: {ISSUER_MISSING} (session inferred from its calls)"
        return "unknown: the issuing event names no caller"
    if not resolved and missing_key:
        return (
            f"unknown beyond {origin_arn}: the session that holds key {missing_key} "
            "is not in the data"
        )
    if origin_type == "AWSService" and origin_arn == "ec2.amazonaws.com":
        if top_session_name and top_session_name.startswith("i-"):
            return f"EC2 instance {top_session_name} (instance profile)"
        return "EC2 (instance profile)"
    if origin_type == "AWSService":
        return f"AWS service {origin_arn}"
    return origin_arn


def principal_label(principal_arn: str | None, via: str | None) -> str:
    if principal_arn is not None:
        return principal_arn
    if via == "INFERRED":
        return f"unknown: {ISSUER_MISSING} (session inferred from its calls)"
    return "unknown: the issuing event names no caller"
