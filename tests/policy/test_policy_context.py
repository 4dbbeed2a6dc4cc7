from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipeline.policy import PolicyContextError, RequestContext, session_context

ROLE = "arn:aws:iam::111122223333:role/team/Deployer"
AT = datetime(2024, 10, 10, 10, 0, 0, tzinfo=UTC)


def test_request_context_is_case_insensitive_and_keeps_spelling() -> None:
    ctx = RequestContext({"aws:SourceIp": "203.0.113.9", "aws:TagKeys": ["a", "b"]})
    assert ctx["AWS:SOURCEIP"] == "203.0.113.9"
    assert "aws:sourceip" in ctx
    assert list(ctx) == ["aws:SourceIp", "aws:TagKeys"]
    assert ctx["aws:tagkeys"] == ("a", "b")
    assert ctx.values_of("aws:SourceIP") == ("203.0.113.9",)
    assert ctx.values_of("aws:missing") is None
    assert len(ctx) == 2


def test_request_context_is_immutable_and_hashable() -> None:
    source = {"k:list": ["a"]}
    ctx = RequestContext(source)
    source["k:list"].append("b")
    assert ctx["k:list"] == ("a",)
    with pytest.raises(AttributeError):
        ctx._entries = {}
    assert hash(ctx) == hash(RequestContext({"k:list": ["a"]}))
    assert ctx == RequestContext({"k:list": ("a",)})


def test_request_context_rejects_bad_input() -> None:
    with pytest.raises(PolicyContextError, match="differ only in case"):
        RequestContext({"aws:SourceIp": "1.1.1.1", "AWS:SOURCEIP": "2.2.2.2"})
    with pytest.raises(PolicyContextError, match="must be a string or a list of strings"):
        RequestContext({"k:n": 5})  # type: ignore[dict-item]
    with pytest.raises(PolicyContextError, match="non-empty strings"):
        RequestContext({"": "x"})


def test_merged_overrides_without_regard_to_case() -> None:
    ctx = RequestContext({"aws:SourceIp": "1.1.1.1", "k:a": "a"}).merged(
        {"AWS:SourceIP": "2.2.2.2"}
    )
    assert dict(ctx) == {"k:a": "a", "AWS:SourceIP": "2.2.2.2"}


def test_of_accepts_none_mapping_and_context() -> None:
    ctx = RequestContext({"k:a": "a"})
    assert RequestContext.of(ctx) is ctx
    assert RequestContext.of(None) == RequestContext()
    assert RequestContext.of({"k:a": "a"}) == ctx


def test_role_session_context() -> None:
    ctx = session_context(
        principal_arn=ROLE,
        principal_id="AROAEXAMPLEID",
        session_name="alice-deploy",
        at=AT,
        issued_at=datetime(2024, 10, 10, 9, 43, 48, 85000, tzinfo=UTC),
        mfa_authenticated=True,
        source_identity="alice",
        source_ip="203.0.113.9",
    )
    assert dict(ctx) == {
        "aws:PrincipalArn": ROLE,
        "aws:PrincipalAccount": "111122223333",
        "aws:CurrentTime": "2024-10-10T10:00:00Z",
        "aws:EpochTime": "1728554400",
        "aws:PrincipalType": "AssumedRole",
        "aws:userid": "AROAEXAMPLEID:alice-deploy",
        "aws:TokenIssueTime": "2024-10-10T09:43:48.085Z",
        "aws:MultiFactorAuthPresent": "true",
        "aws:SourceIdentity": "alice",
        "aws:SourceIp": "203.0.113.9",
    }
    assert "aws:username" not in ctx


def test_unknown_mfa_and_missing_optional_keys_are_absent() -> None:
    ctx = session_context(principal_arn=ROLE, session_name="s", at=AT)
    for key in (
        "aws:MultiFactorAuthPresent",
        "aws:TokenIssueTime",
        "aws:SourceIdentity",
        "aws:SourceIp",
        "aws:userid",
    ):
        assert key not in ctx
    assert (
        session_context(principal_arn=ROLE, session_name="s", at=AT, mfa_authenticated=False)[
            "aws:MultiFactorAuthPresent"
        ]
        == "false"
    )


def test_times_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    ctx = session_context(
        principal_arn=ROLE,
        session_name="s",
        at=datetime(2024, 10, 10, 12, 0, 0, 500, tzinfo=plus_two),
        issued_at=datetime(2024, 10, 10, 11, 0, tzinfo=plus_two),
    )
    assert ctx["aws:CurrentTime"] == "2024-10-10T10:00:00.000500Z"
    assert ctx["aws:EpochTime"] == "1728554400"
    assert ctx["aws:TokenIssueTime"] == "2024-10-10T09:00:00Z"


def test_principal_tags_session_overrides_role_case_insensitively() -> None:
    ctx = session_context(
        principal_arn=ROLE,
        session_name="s",
        at=AT,
        role_tags={"team": "role-team", "CostCenter": "1"},
        transitive_tags={"Project": "p1"},
        session_tags={"Team": "session-team"},
    )
    assert ctx["aws:PrincipalTag/team"] == "session-team"
    assert ctx.values_of("aws:PrincipalTag/TEAM") == ("session-team",)
    assert ctx["aws:PrincipalTag/CostCenter"] == "1"
    assert ctx["aws:PrincipalTag/Project"] == "p1"
    assert [k for k in ctx if k.startswith("aws:PrincipalTag/")] == [
        "aws:PrincipalTag/Team",
        "aws:PrincipalTag/CostCenter",
        "aws:PrincipalTag/Project",
    ]


def test_user_context_has_username() -> None:
    ctx = session_context(
        principal_arn="arn:aws:iam::111122223333:user/eng/bob", principal_id="AIDAEXAMPLE", at=AT
    )
    assert ctx["aws:username"] == "bob"
    assert ctx["aws:userid"] == "AIDAEXAMPLE"
    assert ctx["aws:PrincipalType"] == "User"


def test_extra_keys_win() -> None:
    ctx = session_context(
        principal_arn=ROLE,
        session_name="s",
        at=AT,
        source_ip="1.1.1.1",
        extra={"AWS:SourceIp": "2.2.2.2", "aws:SecureTransport": "true"},
    )
    assert ctx["aws:SourceIp"] == "2.2.2.2"
    assert ctx["aws:SecureTransport"] == "true"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {
                "principal_arn": "arn:aws:sts::111122223333:assumed-role/Deployer/s",
                "session_name": "s",
            },
            "session ARN",
        ),
        ({"principal_arn": "not-an-arn", "session_name": "s"}, "not an ARN"),
        (
            {"principal_arn": "arn:aws:s3:::bucket", "session_name": "s"},
            "expected an IAM role or user ARN",
        ),
        ({"principal_arn": ROLE}, "needs its session_name"),
    ],
)
def test_session_context_rejects_bad_principals(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyContextError, match=message):
        session_context(at=AT, **kwargs)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(PolicyContextError, match="timezone-aware"):
        session_context(principal_arn=ROLE, session_name="s", at=datetime(2024, 1, 1))
    with pytest.raises(PolicyContextError, match="issued_at must be timezone-aware"):
        session_context(principal_arn=ROLE, session_name="s", at=AT, issued_at=datetime(2024, 1, 1))


def test_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        session_context(ROLE, AT)  # type: ignore[call-arg]
