from __future__ import annotations

from policy_builders import allow, deny, policy

from pipeline.policy import RequestContext, evaluate
from pipeline.policy.variables import Piece, has_variables, pattern_text, render

CTX = RequestContext(
    {
        "aws:username": "alice",
        "aws:userid": "AIDAEXAMPLE",
        "aws:PrincipalTag/team": "blue",
        "aws:SourceIdentity": "alice@example.com",
        "aws:CurrentTime": "2024-10-10T10:00:00Z",
        "s3:prefix": "home/",
        "aws:TagKeys": ["a", "b"],
        "k:star": "a*b",
    }
)


def text(value: str, *, variables: bool = True) -> str | None:
    rendered = render(value, CTX, variables=variables)
    return None if rendered is None else pattern_text(rendered)


def test_simple_and_case_insensitive_keys() -> None:
    assert text("home/${aws:username}/") == "home/alice/"
    assert text("${AWS:UserName}") == "alice"
    assert text("${aws:userid}") == "AIDAEXAMPLE"
    assert text("${aws:PrincipalTag/team}-bucket") == "blue-bucket"
    assert text("${aws:principaltag/TEAM}") == "blue"
    assert text("${aws:SourceIdentity}") == "alice@example.com"
    assert text("${aws:CurrentTime}") == "2024-10-10T10:00:00Z"
    assert text("${s3:prefix}x") == "home/x"  # any context key
    assert text("${ aws:username }") == "alice"


def test_special_characters() -> None:
    assert render("a${*}b${?}c${$}d", CTX, variables=True) == (Piece("a*b?c$d"),)
    assert render("a*b?", CTX, variables=True) == (
        Piece("a"),
        Piece("*", wildcard=True),
        Piece("b"),
        Piece("?", wildcard=True),
    )


def test_substituted_values_stay_literal() -> None:
    assert render("x/${k:star}", CTX, variables=True) == (Piece("x/a*b"),)


def test_defaults() -> None:
    assert text("${aws:missing, 'anonymous'}") == "anonymous"
    assert text("${aws:username, 'anonymous'}") == "alice"
    assert text("${aws:missing,'it''s'}") == "it's"
    assert text("${aws:missing, '${aws:username}'}") == "${aws:username}"  # one round only
    assert text("${aws:TagKeys, 'multi'}") == "multi"  # multivalued keys are not variables


def test_unresolved_without_default() -> None:
    assert render("home/${aws:missing}/", CTX, variables=True) is None
    assert render("${aws:TagKeys}", CTX, variables=True) is None


def test_version_2008_keeps_variables_literal() -> None:
    assert text("home/${aws:username}", variables=False) == "home/${aws:username}"
    assert text("${aws:missing}", variables=False) == "${aws:missing}"


def test_malformed_variables_are_literal_text() -> None:
    assert text("${aws:username") == "${aws:username"
    assert text("${}") == "${}"
    assert not has_variables("${aws:username")
    assert has_variables("x${aws:username}")


HOME = policy(
    allow("s3:GetObject", "arn:aws:s3:::bucket/home/${aws:username}/*", sid="OwnHome"),
)


def test_variables_in_resource() -> None:
    def effect(user: str | None, key: str, doc: dict[str, object] = HOME) -> str:
        ctx = {} if user is None else {"aws:username": user}
        return evaluate(
            action="s3:GetObject",
            resource=f"arn:aws:s3:::bucket/{key}",
            identity_policies=[doc],
            context=ctx,
        ).effect

    assert effect("alice", "home/alice/notes.txt") == "allow"
    assert effect("alice", "home/bob/notes.txt") == "implicit_deny"
    assert effect(None, "home/alice/notes.txt") == "implicit_deny"  # role sessions have no username
    assert effect("*", "home/bob/x") == "implicit_deny"  # a substituted * is not a wildcard
    v2008 = {"Version": "2008-10-17", "Statement": HOME["Statement"]}
    assert effect("alice", "home/alice/x", v2008) == "implicit_deny"
    assert effect("alice", "home/${aws:username}/x", v2008) == "allow"


def test_variables_in_conditions() -> None:
    doc = policy(
        allow(
            "s3:ListBucket",
            "arn:aws:s3:::bucket",
            condition={"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}},
        )
    )

    def effect(ctx: dict[str, str]) -> str:
        return evaluate(
            action="s3:ListBucket",
            resource="arn:aws:s3:::bucket",
            identity_policies=[doc],
            context=ctx,
        ).effect

    assert effect({"aws:username": "alice", "s3:prefix": "home/alice/docs"}) == "allow"
    assert effect({"aws:username": "alice", "s3:prefix": "home/bob/docs"}) == "implicit_deny"
    assert effect({"s3:prefix": "home/alice/docs"}) == "implicit_deny"


def test_principal_tag_variable_in_condition() -> None:
    doc = policy(
        allow(
            "ec2:StartInstances",
            condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
        )
    )
    ctx = {"aws:PrincipalTag/team": "blue", "aws:ResourceTag/team": "blue"}
    assert (
        evaluate(
            action="ec2:StartInstances", resource="*", identity_policies=[doc], context=ctx
        ).effect
        == "allow"
    )
    ctx["aws:ResourceTag/team"] = "red"
    assert (
        evaluate(
            action="ec2:StartInstances", resource="*", identity_policies=[doc], context=ctx
        ).effect
        == "implicit_deny"
    )


def test_unresolved_variable_never_widens_a_statement() -> None:
    # Under a negated operator, an unresolved variable makes the condition false...
    deny_others = deny(condition={"StringNotEquals": {"aws:PrincipalTag/team": "${aws:username}"}})
    ctx = {"aws:PrincipalTag/team": "blue"}
    decision = evaluate(
        action="s3:GetObject",
        resource="*",
        identity_policies=[policy(allow(), deny_others)],
        context=ctx,
    )
    assert decision.effect == "allow"
    # ...and an unresolved NotResource entry makes the statement not apply.
    not_res = allow("s3:*", resource=None, not_resource="arn:aws:s3:::home/${aws:username}/*")
    decision = evaluate(
        action="s3:GetObject", resource="arn:aws:s3:::x", identity_policies=[policy(not_res)]
    )
    assert decision.effect == "implicit_deny"


def test_no_variables_in_numeric_or_date_operators() -> None:
    doc = policy(allow(condition={"NumericLessThan": {"s3:max-keys": "${k:limit}"}}))
    decision = evaluate(
        action="s3:ListBucket",
        resource="*",
        identity_policies=[doc],
        context={"k:limit": "10", "s3:max-keys": "5"},
    )
    assert decision.effect == "implicit_deny"
    assert "invalid value for condition operator 'NumericLessThan'" in decision.reason
