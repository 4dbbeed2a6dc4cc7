"""Hypothesis strategies that build valid events of every type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from pipeline import events as ev

text = st.text(min_size=1, max_size=40)
maybe_text = st.none() | text
times = st.datetimes(
    min_value=datetime(2006, 1, 2), max_value=datetime(2199, 12, 30), timezones=st.just(UTC)
)
accounts = st.from_regex(r"\A\d{12}\Z")


def envelope() -> dict[str, Any]:
    return {
        "event_id": text,
        "event_time": times,
        "account_id": accounts,
        "source": st.sampled_from(ev.EventSource),
    }


role_assumed = st.builds(
    ev.RoleAssumed,
    **envelope(),
    session_id=text,
    role_arn=maybe_text,
    session_name=maybe_text,
    session_arn=maybe_text,
    via=st.sampled_from(ev.AssumeVia),
    caller_arn=maybe_text,
    caller_type=maybe_text,
    caller_access_key_id=maybe_text,
    source_identity=maybe_text,
    session_tags=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
    transitive_tag_keys=st.lists(st.text(max_size=10), max_size=3),
    session_policy=st.none() | st.text(max_size=200),
    session_policy_arns=st.lists(text, max_size=3),
    mfa_authenticated=st.none() | st.booleans(),
    source_ip=maybe_text,
    user_agent=maybe_text,
    requested_duration_seconds=st.none() | st.integers(0, 129600),
    lifecycle_key=maybe_text,
)
credential_issued = st.builds(
    ev.CredentialIssued,
    **envelope(),
    session_id=text,
    access_key_id=text,
    issued_at=st.just(datetime(2026, 1, 1, tzinfo=UTC)),
    expires_at=st.none() | st.just(datetime(2026, 1, 1, 1, tzinfo=UTC)),
)
role_exited = st.builds(
    ev.RoleExited,
    **envelope(),
    session_id=text,
    lifecycle_key=maybe_text,
    reason=st.sampled_from(ev.ExitReason),
)
sessions_revoked = st.builds(ev.SessionsRevoked, **envelope(), role_arn=text, issued_before=times)
policy_changed = st.builds(
    ev.PolicyChanged,
    **envelope(),
    target_type=st.sampled_from(ev.PolicyTargetType),
    target_arn=text,
    change_type=st.sampled_from(ev.PolicyChangeType),
    policy_arn=maybe_text,
    policy_name=maybe_text,
    policy_document=st.none() | st.text(max_size=300),
    policy_version_id=maybe_text,
    set_as_default=st.none() | st.booleans(),
    group_name=maybe_text,
)
access_recorded = st.builds(
    ev.AccessRecorded,
    **envelope(),
    access_key_id=maybe_text,
    session_id=maybe_text,
    principal_arn=maybe_text,
    action=text,
    resources=st.lists(text, max_size=3),
    outcome=st.sampled_from(ev.AccessOutcome),
    error_code=maybe_text,
    source_ip=maybe_text,
    user_agent=maybe_text,
    region=maybe_text,
)
any_event = st.one_of(
    role_assumed, credential_issued, role_exited, sessions_revoked, policy_changed, access_recorded
)
