from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from policy_builders import ADMIN, allow, deny, policy, revoke_older_sessions

from pipeline.policy import (
    Decision,
    MatchedStatement,
    PolicyDocumentError,
    PolicyLike,
    PolicyRequestError,
    RequestContext,
    evaluate,
    parse_policy,
    session_context,
)

ROLE = "arn:aws:iam::111122223333:role/Deployer"
BUCKET = "arn:aws:s3:::bucket"
OBJECT = "arn:aws:s3:::bucket/key"
S3_READ = policy(allow(["s3:GetObject", "s3:ListBucket"], [BUCKET, f"{BUCKET}/*"], sid="S3Read"))


def test_no_policies_is_implicit_deny() -> None:
    decision = evaluate(action="s3:DeleteBucket", resource=BUCKET, identity_policies=[])
    assert decision == Decision(
        "implicit_deny", f"implicit deny: no identity policy allows s3:DeleteBucket on {BUCKET}"
    )
    assert not decision.allowed


def test_allow_names_the_statement_and_policy() -> None:
    decision = evaluate(
        action="s3:GetObject", resource=OBJECT, identity_policies=[("ReadOnly", S3_READ)]
    )
    assert decision.effect == "allow" and decision.allowed
    assert decision.reason == "allowed by statement 'S3Read' of policy 'ReadOnly'"
    assert decision.matched == (
        MatchedStatement(
            kind="identity",
            policy="policy 'ReadOnly'",
            policy_name="ReadOnly",
            index=0,
            sid="S3Read",
            effect="Allow",
        ),
    )


def test_unnamed_policies_and_statements_are_named_by_position() -> None:
    decision = evaluate(
        action="s3:PutObject",
        resource=OBJECT,
        identity_policies=[S3_READ, policy(allow("s3:Put*"))],
    )
    assert decision.reason == "allowed by statement at index 0 of identity policy #2"


def test_explicit_deny_beats_allow_everywhere() -> None:
    deny_all = ("DenyAll", policy(deny(sid="DenyAll")))
    for kwargs in (
        {"identity_policies": [ADMIN, deny_all]},
        {"identity_policies": [ADMIN], "session_policies": [ADMIN, deny_all]},
        {"identity_policies": [ADMIN], "boundary": deny_all},
    ):
        decision = evaluate(action="s3:GetObject", resource=OBJECT, **kwargs)
        assert decision.effect == "explicit_deny"
        assert "explicit deny by statement 'DenyAll'" in decision.reason
    boundary = evaluate(
        action="s3:GetObject", resource=OBJECT, identity_policies=[ADMIN], boundary=deny_all
    )
    assert (
        boundary.reason == "explicit deny by statement 'DenyAll' of permissions boundary 'DenyAll'"
    )


def test_deny_order_does_not_matter() -> None:
    a = evaluate(
        action="s3:GetObject", resource=OBJECT, identity_policies=[policy(deny("s3:*")), ADMIN]
    )
    b = evaluate(
        action="s3:GetObject", resource=OBJECT, identity_policies=[ADMIN, policy(deny("s3:*"))]
    )
    assert a.effect == b.effect == "explicit_deny"


def test_boundary_must_allow() -> None:
    boundary = ("DevBoundary", policy(allow("s3:*", sid="S3Only")))
    ok = evaluate(
        action="s3:GetObject", resource=OBJECT, identity_policies=[ADMIN], boundary=boundary
    )
    assert ok.effect == "allow"
    assert (
        ok.reason == "allowed by statement 'AdminAll' of identity policy #1; "
        "within statement 'S3Only' of permissions boundary 'DevBoundary'"
    )
    denied = evaluate(
        action="iam:CreateUser", resource="*", identity_policies=[ADMIN], boundary=boundary
    )
    assert denied == Decision(
        "implicit_deny",
        "implicit deny: permissions boundary 'DevBoundary' does not allow iam:CreateUser on *",
        denied.matched,
    )
    # The boundary grants nothing by itself.
    alone = evaluate(
        action="s3:GetObject", resource=OBJECT, identity_policies=[], boundary=boundary
    )
    assert alone.reason.startswith("implicit deny: no identity policy allows")
    unnamed = evaluate(
        action="iam:CreateUser",
        resource="*",
        identity_policies=[ADMIN],
        boundary=policy(allow("s3:*")),
    )
    assert (
        unnamed.reason == "implicit deny: permissions boundary does not allow iam:CreateUser on *"
    )


def test_session_policies_intersect_with_identity_policies() -> None:
    session = policy(allow("s3:GetObject"))
    ok = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[ADMIN],
        session_policies=[session],
    )
    assert ok.effect == "allow"
    assert ok.reason.endswith("; within statement at index 0 of session policy #1")
    narrowed = evaluate(
        action="s3:PutObject",
        resource=OBJECT,
        identity_policies=[ADMIN],
        session_policies=[session],
    )
    assert (
        narrowed.reason == f"implicit deny: session policy does not allow s3:PutObject on {OBJECT}"
    )
    # A session policy cannot grant what the identity policies do not.
    widened = evaluate(
        action="s3:PutObject",
        resource=OBJECT,
        identity_policies=[S3_READ],
        session_policies=[ADMIN],
    )
    assert widened.effect == "implicit_deny"
    assert widened.reason.startswith("implicit deny: no identity policy allows")
    # Several session policies (inline + PolicyArns): any one of them may allow.
    two = evaluate(
        action="s3:PutObject",
        resource=OBJECT,
        identity_policies=[ADMIN],
        session_policies=[session, policy(allow("s3:Put*"))],
    )
    assert two.effect == "allow"
    none = evaluate(
        action="ec2:RunInstances",
        resource="*",
        identity_policies=[ADMIN],
        session_policies=[session, ("Named", session)],
    )
    assert none.reason == "implicit deny: no session policy allows ec2:RunInstances on *"
    named = evaluate(
        action="ec2:RunInstances",
        resource="*",
        identity_policies=[ADMIN],
        session_policies=[("Inline", session)],
    )
    assert (
        named.reason
        == "implicit deny: session policy 'Inline' does not allow ec2:RunInstances on *"
    )


def test_identity_checked_before_boundary_before_session() -> None:
    decision = evaluate(
        action="ec2:RunInstances",
        resource="*",
        identity_policies=[S3_READ],
        boundary=policy(allow("s3:*")),
        session_policies=[policy(allow("s3:*"))],
    )
    assert decision.reason.startswith("implicit deny: no identity policy allows")
    decision = evaluate(
        action="ec2:RunInstances",
        resource="*",
        identity_policies=[ADMIN],
        boundary=policy(allow("s3:*")),
        session_policies=[policy(allow("s3:*"))],
    )
    assert decision.reason.startswith("implicit deny: permissions boundary does not allow")


# --- "Revoke active sessions" -----------------------------------------------------------

WATERMARK = "2024-10-10T09:43:48.085Z"


def role_session(issued_at: datetime) -> RequestContext:
    return session_context(
        principal_arn=ROLE,
        principal_id="AROAEXAMPLE",
        session_name="alice",
        issued_at=issued_at,
        at=datetime(2024, 10, 10, 12, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("issued_at", "expected"),
    [
        (datetime(2024, 10, 10, 8, 0, tzinfo=UTC), "explicit_deny"),
        (datetime(2024, 10, 10, 9, 43, 48, tzinfo=UTC), "explicit_deny"),  # same second, earlier ms
        (datetime(2024, 10, 10, 9, 43, 48, 84000, tzinfo=UTC), "explicit_deny"),
        (datetime(2024, 10, 10, 9, 43, 48, 85000, tzinfo=UTC), "allow"),  # not *less* than
        (datetime(2024, 10, 10, 9, 43, 48, 86000, tzinfo=UTC), "allow"),
        (datetime(2024, 10, 10, 11, 0, tzinfo=UTC), "allow"),
    ],
)
def test_revoke_older_sessions(issued_at: datetime, expected: str) -> None:
    decision = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[("AdminAccess", ADMIN), revoke_older_sessions(WATERMARK)],
        context=role_session(issued_at),
    )
    assert decision.effect == expected
    if expected == "explicit_deny":
        assert (
            decision.reason
            == "explicit deny by statement at index 0 of policy 'AWSRevokeOlderSessions'"
        )


def test_revoke_does_not_touch_long_term_credentials() -> None:
    # aws:TokenIssueTime is absent for long-term keys, so DateLessThan is false.
    decision = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[ADMIN, revoke_older_sessions(WATERMARK)],
        context=session_context(
            principal_arn="arn:aws:iam::111122223333:user/bob",
            at=datetime(2024, 10, 10, 12, tzinfo=UTC),
        ),
    )
    assert decision.effect == "allow"


# --- unsupported operators --------------------------------------------------------------

FUZZY = {"StringFuzzyEquals": {"aws:PrincipalTag/team": "blue"}}


def test_allow_with_unsupported_operator_does_not_allow_and_is_reported() -> None:
    doc = ("Fuzzy", policy(allow(sid="FuzzyAllow", condition=FUZZY)))
    decision = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[doc],
        context={"aws:PrincipalTag/team": "blue"},
    )
    assert decision.effect == "implicit_deny"
    assert "StringFuzzyEquals" in decision.reason
    assert "statement 'FuzzyAllow' of policy 'Fuzzy'" in decision.reason
    assert decision.matched == ()
    # When another statement allows, the unknown one does not matter.
    ok = evaluate(action="s3:GetObject", resource=OBJECT, identity_policies=[doc, ADMIN])
    assert ok.effect == "allow"


def test_deny_with_unsupported_operator_is_assumed_to_apply() -> None:
    doc = ("Fuzzy", policy(deny(sid="FuzzyDeny", condition=FUZZY)))
    decision = evaluate(action="s3:GetObject", resource=OBJECT, identity_policies=[ADMIN, doc])
    assert decision.effect == "explicit_deny"
    assert decision.reason.startswith(
        "explicit deny assumed: statement 'FuzzyDeny' of policy 'Fuzzy'"
    )
    assert "unsupported condition operator 'StringFuzzyEquals'" in decision.reason
    assumed = [m for m in decision.matched if m.assumed]
    assert [m.sid for m in assumed] == ["FuzzyDeny"]
    assert assumed[0].problems == ("unsupported condition operator 'StringFuzzyEquals'",)


def test_deny_with_unsupported_operator_but_a_false_condition_does_not_apply() -> None:
    condition = {**FUZZY, "StringEquals": {"aws:PrincipalTag/team": "red"}}
    doc = policy(deny(condition=condition))
    decision = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[ADMIN, doc],
        context={"aws:PrincipalTag/team": "blue"},
    )
    assert decision.effect == "allow"


def test_unsupported_operator_outside_the_request_is_irrelevant() -> None:
    doc = policy(deny("ec2:*", condition=FUZZY))
    assert (
        evaluate(action="s3:GetObject", resource=OBJECT, identity_policies=[ADMIN, doc]).effect
        == "allow"
    )


def test_a_certain_deny_is_preferred_in_the_reason() -> None:
    docs: list[PolicyLike] = [
        ADMIN,
        policy(deny(condition=FUZZY)),
        ("Real", policy(deny(sid="Real"))),
    ]
    decision = evaluate(action="s3:GetObject", resource=OBJECT, identity_policies=docs)
    assert decision.reason == "explicit deny by statement 'Real' of policy 'Real'"


def test_unsupported_operator_in_boundary_is_reported() -> None:
    decision = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[ADMIN],
        boundary=("B", policy(allow(condition=FUZZY))),
    )
    assert decision.effect == "implicit_deny"
    assert decision.reason.startswith("implicit deny: permissions boundary 'B' does not allow")
    assert "StringFuzzyEquals" in decision.reason


# --- conditions through evaluate ----------------------------------------------------------


def test_mfa_deny_with_bool_if_exists() -> None:
    doc = policy(
        allow(),
        deny(sid="RequireMFA", condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
    )
    base = dict(principal_arn=ROLE, session_name="s", at=datetime(2024, 1, 1, tzinfo=UTC))
    for mfa, expected in ((True, "allow"), (False, "explicit_deny"), (None, "explicit_deny")):
        ctx = session_context(**base, mfa_authenticated=mfa)  # type: ignore[arg-type]
        assert (
            evaluate(
                action="iam:CreateUser", resource="*", identity_policies=[doc], context=ctx
            ).effect
            == expected
        )


def test_source_ip_restriction() -> None:
    doc = policy(
        allow(condition={"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}})
    )
    for ip, expected in (
        ("203.0.113.5", "allow"),
        ("2001:db8::5", "allow"),
        ("198.51.100.1", "implicit_deny"),
    ):
        assert (
            evaluate(
                action="s3:GetObject",
                resource=OBJECT,
                identity_policies=[doc],
                context={"aws:SourceIp": ip},
            ).effect
            == expected
        )
    assert (
        evaluate(action="s3:GetObject", resource=OBJECT, identity_policies=[doc]).effect
        == "implicit_deny"
    )


def test_principal_tag_abac() -> None:
    doc = policy(allow("ec2:*", condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}}))
    ctx = session_context(
        principal_arn=ROLE,
        session_name="s",
        at=datetime(2024, 1, 1, tzinfo=UTC),
        role_tags={"team": "red"},
        session_tags={"Team": "blue"},
    )
    assert (
        evaluate(
            action="ec2:StopInstances", resource="*", identity_policies=[doc], context=ctx
        ).effect
        == "allow"
    )


# --- resource policies -------------------------------------------------------------------

SESSION_ARN = "arn:aws:sts::111122223333:assumed-role/Deployer/alice"
CTX = {"aws:PrincipalArn": ROLE, "aws:PrincipalAccount": "111122223333"}


def bucket_policy(principal: object, effect: str = "Allow") -> tuple[str, dict[str, object]]:
    return (
        "BucketPolicy",
        policy(
            {
                "Sid": "Grant",
                "Effect": effect,
                "Principal": principal,
                "Action": "s3:GetObject",
                "Resource": f"{BUCKET}/*",
            }
        ),
    )


def test_resource_policy_naming_the_session_allows_alone() -> None:
    decision = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[],
        session_policies=[policy(allow("ec2:*"))],
        boundary=policy(allow("ec2:*")),
        context=CTX,
        resource_policy=bucket_policy({"AWS": SESSION_ARN}),
        session_arn=SESSION_ARN,
    )
    assert decision.effect == "allow"
    assert (
        decision.reason == "allowed by statement 'Grant' of resource policy 'BucketPolicy', "
        "which names the role session itself"
    )


def test_resource_policy_naming_the_role_is_cut_by_boundary_and_session_policy() -> None:
    rp = bucket_policy({"AWS": ROLE})
    ok = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[],
        context=CTX,
        resource_policy=rp,
    )
    assert ok.effect == "allow"
    assert ok.reason == "allowed by statement 'Grant' of resource policy 'BucketPolicy'"
    cut = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[],
        context=CTX,
        resource_policy=rp,
        boundary=policy(allow("ec2:*")),
    )
    assert cut.effect == "implicit_deny"
    cut = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[],
        context=CTX,
        resource_policy=rp,
        session_policies=[policy(allow("ec2:*"))],
    )
    assert cut.effect == "implicit_deny"


def test_resource_policy_naming_the_account_grants_nothing_alone() -> None:
    decision = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[],
        context=CTX,
        resource_policy=bucket_policy({"AWS": "arn:aws:iam::111122223333:root"}),
    )
    assert (
        decision.reason
        == f"implicit deny: no identity or resource policy allows s3:GetObject on {OBJECT}"
    )
    other = evaluate(
        action="s3:GetObject",
        resource=OBJECT,
        identity_policies=[],
        context=CTX,
        resource_policy=bucket_policy({"AWS": "arn:aws:iam::999999999999:role/X"}),
    )
    assert other.effect == "implicit_deny"


def test_resource_policy_deny() -> None:
    for principal in ("*", {"AWS": "111122223333"}, {"AWS": ROLE}):
        decision = evaluate(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[ADMIN],
            context=CTX,
            resource_policy=bucket_policy(principal, "Deny"),
        )
        assert decision.effect == "explicit_deny"
        assert (
            decision.reason
            == "explicit deny by statement 'Grant' of resource policy 'BucketPolicy'"
        )
    not_me = (
        "BP",
        policy({"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "*", "Resource": "*"}),
    )
    assert (
        evaluate(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[ADMIN],
            context=CTX,
            resource_policy=not_me,
        ).effect
        == "allow"
    )
    service = bucket_policy({"Service": "cloudtrail.amazonaws.com"}, "Deny")
    assert (
        evaluate(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[ADMIN],
            context=CTX,
            resource_policy=service,
        ).effect
        == "allow"
    )


# --- inputs ------------------------------------------------------------------------------


def test_accepts_json_text_parsed_policies_and_mappings() -> None:
    parsed = parse_policy(S3_READ, name="Parsed")
    for doc in (json.dumps(S3_READ), parsed, S3_READ):
        assert (
            evaluate(action="s3:GetObject", resource=OBJECT, identity_policies=[doc]).effect
            == "allow"
        )
    assert (
        "policy 'Parsed'"
        in evaluate(action="s3:GetObject", resource=OBJECT, identity_policies=[parsed]).reason
    )


@pytest.mark.parametrize(
    ("action", "resource"),
    [("GetObject", OBJECT), ("s3:Get*", OBJECT), (":x", OBJECT), ("s3:GetObject", "")],
)
def test_malformed_requests_raise(action: str, resource: str) -> None:
    with pytest.raises(PolicyRequestError):
        evaluate(action=action, resource=resource, identity_policies=[ADMIN])


def test_a_single_policy_instead_of_a_list_is_refused() -> None:
    with pytest.raises(PolicyRequestError, match="sequence of policies"):
        evaluate(action="s3:GetObject", resource=OBJECT, identity_policies=json.dumps(ADMIN))
    with pytest.raises(PolicyRequestError, match="sequence of policies"):
        evaluate(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[],
            session_policies=ADMIN,  # type: ignore[arg-type]
        )


def test_malformed_policy_raises() -> None:
    with pytest.raises(PolicyDocumentError):
        evaluate(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[{"Statement": {"Effect": "Maybe"}}],
        )


def test_decision_is_frozen() -> None:
    decision = evaluate(action="s3:GetObject", resource=OBJECT, identity_policies=[])
    with pytest.raises(AttributeError):
        decision.effect = "allow"  # type: ignore[misc]
