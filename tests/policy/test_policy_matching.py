from __future__ import annotations

import pytest
from policy_builders import allow, deny, policy

from pipeline.policy import evaluate
from pipeline.policy.matching import action_matches, arn_match, glob_match
from pipeline.policy.variables import wildcard_pattern


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("s3:GetObject", "s3:GetObject", True),
        ("S3:getobject", "s3:GetObject", True),  # prefix and name are case-insensitive
        ("s3:Get*", "s3:GetObjectAcl", True),
        ("s3:Get*", "s3:PutObject", False),
        ("iam:*AccessKey*", "iam:CreateAccessKey", True),
        ("iam:*AccessKey*", "iam:ListAccessKeys", True),
        ("iam:*AccessKey*", "iam:CreateUser", False),
        ("s3:?etObject", "s3:GetObject", True),
        ("s3:?etObject", "s3:GGetObject", False),
        ("*", "ec2:RunInstances", True),
        ("s3:*", "s3express:CreateSession", False),
        ("s3:GetObject", "s3:GetObjectAcl", False),  # no implicit prefix match
    ],
)
def test_action_matching(pattern: str, action: str, expected: bool) -> None:
    assert action_matches(pattern, action) is expected


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b.txt", True),
        ("arn:aws:s3:::bucket/*/test/*", "arn:aws:s3:::bucket/1/2/test/x", True),  # * spans /
        ("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/a", False),  # case-sensitive
        ("arn:aws:iam::123456789012:user/Bob", "arn:aws:iam::123456789012:user/bob", False),
        ("arn:aws:s3:::bucket/?.txt", "arn:aws:s3:::bucket/a.txt", True),
        ("arn:aws:s3:::bucket/?.txt", "arn:aws:s3:::bucket/ab.txt", False),
        ("arn:aws:ec2:*", "arn:aws:ec2:us-east-1:123456789012:instance/i-1", True),  # * spans :
        ("arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:us-east-1:123456789012:instance/i-1", True),
        ("arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:us-east-1:123456789012:volume/v-1", False),
        ("*", "anything at all", True),
        ("arn:aws:s3:::bucket", "arn:aws:s3:::bucket/key", False),  # no implicit prefix match
        ("arn:aws:s3:::a.b", "arn:aws:s3:::aXb", False),  # regex metacharacters are literal
    ],
)
def test_resource_matching(pattern: str, resource: str, expected: bool) -> None:
    assert glob_match(wildcard_pattern(pattern), resource) is expected


def test_arn_like_matches_component_by_component() -> None:
    # The example from the IAM User Guide: StringLike matches, ArnLike does not.
    pattern = wildcard_pattern("arn:aws:someservice:*:111122223333:finance/*")
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    assert glob_match(pattern, value)
    assert not arn_match(pattern, value)
    # The resource component may itself contain ':' and wildcards there match it.
    assert arn_match(
        wildcard_pattern("arn:aws:logs:*:*:log-group:*"),
        "arn:aws:logs:us-east-1:1:log-group:g:log-stream:s",
    )
    assert arn_match(wildcard_pattern("arn:aws:iam::*:role/?dmin"), "arn:aws:iam::1:role/Admin")
    assert not arn_match(wildcard_pattern("arn:aws:iam::*:role/admin"), "arn:aws:iam::1:role/Admin")


def decide(statements: list[dict[str, object]], action: str, resource: str) -> str:
    return evaluate(
        action=action, resource=resource, identity_policies=[policy(*statements)]
    ).effect


def test_allow_with_not_action_grants_every_other_action_across_services() -> None:
    st = allow(not_action="iam:*")
    assert decide([st], "s3:GetObject", "arn:aws:s3:::b/k") == "allow"
    assert decide([st], "ec2:RunInstances", "*") == "allow"
    assert decide([st], "iam:CreateUser", "*") == "implicit_deny"
    assert decide([st], "IAM:createuser", "*") == "implicit_deny"


def test_not_action_is_still_limited_by_resource() -> None:
    st = allow(not_action="iam:*", resource="arn:aws:s3:::b/*")
    assert decide([st], "s3:GetObject", "arn:aws:s3:::b/k") == "allow"
    assert decide([st], "s3:GetObject", "arn:aws:s3:::other/k") == "implicit_deny"


def test_deny_with_not_action_denies_everything_else() -> None:
    statements = [allow(), deny(not_action=["s3:Get*", "s3:List*"], sid="OnlyReads")]
    assert decide(statements, "s3:GetObject", "*") == "allow"
    assert decide(statements, "s3:PutObject", "*") == "explicit_deny"


def test_not_resource() -> None:
    statements = [
        allow(),
        deny(resource=None, not_resource=["arn:aws:s3:::safe", "arn:aws:s3:::safe/*"]),
    ]
    assert decide(statements, "s3:PutObject", "arn:aws:s3:::safe/k") == "allow"
    assert decide(statements, "s3:PutObject", "arn:aws:s3:::other/k") == "explicit_deny"
    # NotResource alone grants only what it does not exclude.
    only = [allow("s3:*", resource=None, not_resource="arn:aws:s3:::secret/*")]
    assert decide(only, "s3:GetObject", "arn:aws:s3:::public/k") == "allow"
    assert decide(only, "s3:GetObject", "arn:aws:s3:::secret/k") == "implicit_deny"


def test_not_action_with_not_resource() -> None:
    st = deny(not_action="iam:ChangePassword", resource=None, not_resource="arn:aws:iam::1:user/me")
    statements = [allow(), st]
    assert decide(statements, "iam:ChangePassword", "arn:aws:iam::1:user/other") == "allow"
    assert decide(statements, "s3:GetObject", "arn:aws:iam::1:user/me") == "allow"
    assert decide(statements, "s3:GetObject", "arn:aws:s3:::b") == "explicit_deny"
