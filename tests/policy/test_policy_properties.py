"""Properties of the decision order that must hold for any policies."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.policy import evaluate

ACTIONS = ["s3:GetObject", "s3:PutObject", "ec2:RunInstances", "iam:CreateUser"]
ACTION_PATTERNS = [*ACTIONS, "s3:*", "*", "s3:Get*", "ec2:*", "iam:*User", "s3:?utObject"]
RESOURCES = ["arn:aws:s3:::a/k", "arn:aws:s3:::b/k", "*", "arn:aws:ec2:us-east-1:1:instance/i-1"]
RESOURCE_PATTERNS = [*RESOURCES, "arn:aws:s3:::a/*", "arn:aws:s3:::*", "arn:aws:*"]
CONTEXTS = [
    {},
    {"aws:SourceIp": "10.0.0.1", "aws:PrincipalTag/team": "blue"},
    {"aws:SourceIp": "192.0.2.1", "aws:TokenIssueTime": "2024-01-01T00:00:00Z"},
]

conditions = st.sampled_from(
    [
        None,
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
        {"StringNotEquals": {"aws:PrincipalTag/team": "blue"}},
        {"DateLessThan": {"aws:TokenIssueTime": "2024-06-01T00:00:00.123Z"}},
        {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
        {"Null": {"aws:TokenIssueTime": "true"}},
        {"StringFuzzyEquals": {"aws:PrincipalTag/team": "blue"}},  # unsupported
    ]
)


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    actions = draw(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3))
    out["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = actions
    resources = draw(st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=2))
    out["NotResource" if draw(st.integers(0, 4)) == 0 else "Resource"] = resources
    condition = draw(conditions)
    if condition is not None:
        out["Condition"] = condition
    return out


def policies(effect: str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda s: {"Version": "2012-10-17", "Statement": s},
        st.lists(statements(effect), min_size=1, max_size=3),
    )


requests = st.fixed_dictionaries(
    {
        "action": st.sampled_from(ACTIONS),
        "resource": st.sampled_from(RESOURCES),
        "context": st.sampled_from(CONTEXTS),
    }
)

FAST = settings(max_examples=200, deadline=None)


@FAST
@given(request=requests, identity=st.lists(policies(), max_size=3), extra=statements("Deny"))
def test_adding_a_deny_statement_never_turns_deny_into_allow(
    request: dict[str, Any], identity: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    before = evaluate(identity_policies=identity, **request)
    after = evaluate(
        identity_policies=[*identity, {"Version": "2012-10-17", "Statement": [extra]}], **request
    )
    if after.effect == "allow":
        assert before.effect == "allow"


@FAST
@given(
    request=requests,
    identity=st.lists(policies(), max_size=3),
    session=policies(),
    boundary=st.none() | policies(),
)
def test_adding_a_session_policy_never_widens(
    request: dict[str, Any],
    identity: list[dict[str, Any]],
    session: dict[str, Any],
    boundary: dict[str, Any] | None,
) -> None:
    before = evaluate(identity_policies=identity, boundary=boundary, **request)
    after = evaluate(
        identity_policies=identity, boundary=boundary, session_policies=[session], **request
    )
    if after.effect == "allow":
        assert before.effect == "allow"


@FAST
@given(request=requests, identity=st.lists(policies(), max_size=3), boundary=policies())
def test_adding_a_boundary_never_widens(
    request: dict[str, Any], identity: list[dict[str, Any]], boundary: dict[str, Any]
) -> None:
    before = evaluate(identity_policies=identity, **request)
    after = evaluate(identity_policies=identity, boundary=boundary, **request)
    if after.effect == "allow":
        assert before.effect == "allow"


@FAST
@given(request=requests, identity=st.lists(policies(), max_size=3), extra=statements("Allow"))
def test_adding_an_allow_never_turns_allow_into_deny(
    request: dict[str, Any], identity: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    before = evaluate(identity_policies=identity, **request)
    after = evaluate(
        identity_policies=[*identity, {"Version": "2012-10-17", "Statement": [extra]}], **request
    )
    if before.effect == "allow":
        assert after.effect == "allow"
    if before.effect == "explicit_deny":
        assert after.effect == "explicit_deny"


@FAST
@given(request=requests, identity=st.lists(policies(), max_size=3))
def test_explicit_deny_iff_a_deny_statement_matched(
    request: dict[str, Any], identity: list[dict[str, Any]]
) -> None:
    decision = evaluate(identity_policies=identity, **request)
    denied = any(m.effect == "Deny" for m in decision.matched)
    assert (decision.effect == "explicit_deny") == denied
    if decision.effect == "allow":
        assert any(m.effect == "Allow" and not m.assumed for m in decision.matched)
    assert decision.reason
