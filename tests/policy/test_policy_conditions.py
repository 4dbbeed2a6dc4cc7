from __future__ import annotations

import base64

import pytest

from pipeline.policy import Condition, RequestContext
from pipeline.policy.conditions import evaluate_condition, evaluate_conditions

Ctx = dict[str, str | list[str]]


def truth(
    operator: str,
    key: str,
    values: str | list[str],
    context: Ctx | None = None,
    *,
    variables: bool = True,
) -> str:
    vals = (values,) if isinstance(values, str) else tuple(values)
    result, _ = evaluate_condition(
        Condition(operator, key, vals), RequestContext(context or {}), variables=variables
    )
    return result


def problem(
    operator: str, key: str, values: str | list[str], context: Ctx | None = None
) -> str | None:
    vals = (values,) if isinstance(values, str) else tuple(values)
    return evaluate_condition(
        Condition(operator, key, vals), RequestContext(context or {}), variables=True
    )[1]


# --- string operators ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "values", "request_value", "expected"),
    [
        ("StringEquals", "dev", "dev", "true"),
        ("StringEquals", "dev", "Dev", "false"),
        ("StringEquals", ["ops", "dev"], "dev", "true"),  # values OR
        ("StringEquals", "d*", "dev", "false"),  # no wildcards in StringEquals
        ("StringEquals", "d*", "d*", "true"),
        ("StringNotEquals", "dev", "prod", "true"),
        ("StringNotEquals", "dev", "dev", "false"),
        ("StringNotEquals", ["dev", "ops"], "ops", "false"),  # negated: matches none
        ("StringNotEquals", ["dev", "ops"], "qa", "true"),
        ("StringEqualsIgnoreCase", "DEV", "dev", "true"),
        ("StringEqualsIgnoreCase", "dev", "prod", "false"),
        ("StringNotEqualsIgnoreCase", "DEV", "dev", "false"),
        ("StringNotEqualsIgnoreCase", "DEV", "prod", "true"),
        ("StringLike", "home/*", "home/alice/x", "true"),
        ("StringLike", "home/?", "home/ab", "false"),
        ("StringLike", "home/??", "home/ab", "true"),
        ("StringLike", "Home/*", "home/a", "false"),  # case-sensitive
        ("StringLike", ["", "home/"], "", "true"),
        ("StringNotLike", "home/*", "tmp/x", "true"),
        ("StringNotLike", ["tmp/*", "home/*"], "home/x", "false"),
    ],
)
def test_string_operators(
    operator: str, values: str | list[str], request_value: str, expected: str
) -> None:
    assert (
        truth(operator, "aws:PrincipalTag/env", values, {"aws:PrincipalTag/env": request_value})
        == expected
    )


def test_condition_keys_are_case_insensitive() -> None:
    assert (
        truth("StringEquals", "AWS:PRINCIPALTAG/ENV", "dev", {"aws:PrincipalTag/env": "dev"})
        == "true"
    )
    assert (
        truth("stringequals", "aws:principaltag/env", "dev", {"aws:PrincipalTag/env": "dev"})
        == "true"
    )


# --- ARN operators -----------------------------------------------------------------------

ROLE = "arn:aws:iam::111122223333:role/ops/Admin"


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("ArnEquals", ROLE, "true"),
        ("ArnLike", "arn:aws:iam::111122223333:role/*", "true"),
        ("ArnEquals", "arn:aws:iam::*:role/ops/Admin", "true"),  # ArnEquals allows wildcards too
        ("ArnLike", "arn:aws:iam::111122223333:role/ops/admin", "false"),  # case-sensitive
        ("ArnLike", "arn:aws:iam::*:role/ops/?dmin", "true"),
        ("ArnLike", "arn:aws:iam::444455556666:role/*", "false"),
        ("ArnNotEquals", "arn:aws:iam::111122223333:role/other", "true"),
        ("ArnNotLike", "arn:aws:iam::111122223333:role/*", "false"),
        ("ArnNotLike", "arn:aws:iam::444455556666:*", "true"),
    ],
)
def test_arn_operators(operator: str, value: str, expected: str) -> None:
    assert truth(operator, "aws:PrincipalArn", value, {"aws:PrincipalArn": ROLE}) == expected


def test_arn_like_does_not_cross_colons_in_the_first_five_components() -> None:
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    assert truth("StringLike", "aws:SourceArn", pattern, {"aws:SourceArn": value}) == "true"
    assert truth("ArnLike", "aws:SourceArn", pattern, {"aws:SourceArn": value}) == "false"


# --- numeric -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "policy_value", "request_value", "expected"),
    [
        ("NumericEquals", "10", "10", "true"),
        ("NumericEquals", "10", "10.0", "true"),
        ("NumericEquals", "10", "11", "false"),
        ("NumericNotEquals", "10", "11", "true"),
        ("NumericNotEquals", "10", "10", "false"),
        ("NumericLessThan", "10", "9", "true"),
        ("NumericLessThan", "10", "10", "false"),
        ("NumericLessThanEquals", "10", "10", "true"),
        ("NumericGreaterThan", "10", "10.5", "true"),
        ("NumericGreaterThan", "10", "10", "false"),
        ("NumericGreaterThanEquals", "-1.5", "-1.5", "true"),
        ("NumericLessThan", "10", "not-a-number", "false"),
        ("NumericNotEquals", "10", "not-a-number", "true"),
        ("NumericEquals", "1e3", "1000", "true"),
    ],
)
def test_numeric_operators(
    operator: str, policy_value: str, request_value: str, expected: str
) -> None:
    assert truth(operator, "s3:max-keys", policy_value, {"s3:max-keys": request_value}) == expected


# --- dates -------------------------------------------------------------------------------

WATERMARK = "2024-10-10T09:43:48.085Z"


@pytest.mark.parametrize(
    ("operator", "policy_value", "request_value", "expected"),
    [
        ("DateLessThan", WATERMARK, "2024-10-10T09:43:48Z", "true"),  # ms matter
        ("DateLessThan", WATERMARK, "2024-10-10T09:43:48.084Z", "true"),
        ("DateLessThan", WATERMARK, "2024-10-10T09:43:48.085Z", "false"),
        ("DateLessThan", WATERMARK, "2024-10-10T09:43:48.086Z", "false"),
        ("DateLessThanEquals", WATERMARK, "2024-10-10T09:43:48.085Z", "true"),
        ("DateGreaterThan", WATERMARK, "2024-10-10T09:43:49Z", "true"),
        ("DateGreaterThanEquals", WATERMARK, "2024-10-10T09:43:48.085Z", "true"),
        ("DateEquals", "2024-10-10T10:43:48+01:00", "2024-10-10T09:43:48Z", "true"),  # offsets
        ("DateNotEquals", "2024-10-10T09:43:48Z", "2024-10-10T09:43:49Z", "true"),
        ("DateNotEquals", "2024-10-10T09:43:48Z", "2024-10-10T09:43:48Z", "false"),
        ("DateEquals", "2024-10-10", "2024-10-10T00:00:00Z", "true"),  # date only = midnight UTC
        ("DateLessThan", "1728553428", "2024-10-10T09:43:47Z", "true"),  # epoch policy value
        ("DateLessThan", "1728553428", "2024-10-10T09:43:48Z", "false"),
        ("DateGreaterThan", "2024-10-10T09:43:48Z", "1728553429", "true"),  # epoch request value
        ("DateEquals", "1728553428.5", "2024-10-10T09:43:48.500Z", "true"),
        ("DateLessThan", WATERMARK, "yesterday", "false"),
    ],
)
def test_date_operators(
    operator: str, policy_value: str, request_value: str, expected: str
) -> None:
    assert (
        truth(operator, "aws:TokenIssueTime", policy_value, {"aws:TokenIssueTime": request_value})
        == expected
    )


# --- bool, binary, IP --------------------------------------------------------------------


def test_bool() -> None:
    ctx: Ctx = {"aws:SecureTransport": "false"}
    assert truth("Bool", "aws:SecureTransport", "false", ctx) == "true"
    assert truth("Bool", "aws:SecureTransport", "FALSE", ctx) == "true"
    assert truth("Bool", "aws:SecureTransport", "true", ctx) == "false"
    assert truth("Bool", "aws:SecureTransport", "true", {"aws:SecureTransport": "yes"}) == "false"


def test_binary_equals() -> None:
    value = base64.b64encode(b"BinaryValueInBase64").decode()
    assert truth("BinaryEquals", "k:blob", value, {"k:blob": value}) == "true"
    assert (
        truth("BinaryEquals", "k:blob", value, {"k:blob": base64.b64encode(b"other").decode()})
        == "false"
    )
    assert truth("BinaryEquals", "k:blob", value, {"k:blob": "%%%not base64"}) == "false"


@pytest.mark.parametrize(
    ("operator", "policy_value", "ip", "expected"),
    [
        ("IpAddress", "203.0.113.0/24", "203.0.113.9", "true"),
        ("IpAddress", "203.0.113.0/24", "198.51.100.9", "false"),
        ("IpAddress", "203.0.113.9", "203.0.113.9", "true"),  # bare address = /32
        (
            "IpAddress",
            ["198.51.100.0/24", "2001:DB8:1234:5678::/64"],
            "2001:db8:1234:5678::1",
            "true",
        ),
        ("IpAddress", "2001:DB8:1234:5678::/64", "2001:db8:1234:5679::1", "false"),
        ("IpAddress", "0.0.0.0/0", "2001:db8::1", "false"),  # v4 range never holds a v6 address
        ("NotIpAddress", "203.0.113.0/24", "198.51.100.9", "true"),
        ("NotIpAddress", ["203.0.113.0/24", "198.51.100.0/24"], "198.51.100.9", "false"),
        ("IpAddress", "203.0.113.0/24", "not-an-ip", "false"),
    ],
)
def test_ip_address(operator: str, policy_value: str | list[str], ip: str, expected: str) -> None:
    assert truth(operator, "aws:SourceIp", policy_value, {"aws:SourceIp": ip}) == expected


# --- missing keys, IfExists, Null --------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("StringEquals", "x", "false"),
        ("StringLike", "*", "false"),
        ("StringNotEquals", "x", "true"),
        ("StringNotLike", "*", "true"),
        ("ArnLike", "arn:*", "false"),
        ("ArnNotLike", "arn:*", "true"),
        ("NumericLessThan", "5", "false"),
        ("NumericNotEquals", "5", "true"),
        ("DateLessThan", "2024-01-01T00:00:00Z", "false"),
        ("DateNotEquals", "2024-01-01T00:00:00Z", "true"),
        ("Bool", "true", "false"),
        ("BinaryEquals", "AA==", "false"),
        ("IpAddress", "10.0.0.0/8", "false"),
        ("NotIpAddress", "10.0.0.0/8", "true"),
        ("StringEqualsIfExists", "x", "true"),
        ("StringNotEqualsIfExists", "x", "true"),
        ("BoolIfExists", "false", "true"),
        ("DateLessThanIfExists", "2024-01-01T00:00:00Z", "true"),
        ("ForAllValues:StringEquals", "x", "true"),
        ("ForAllValues:StringNotLike", "x*", "true"),
        ("ForAnyValue:StringEquals", "x", "false"),
        ("ForAnyValue:StringNotEquals", "x", "false"),
        ("ForAnyValue:StringEqualsIfExists", "x", "true"),
    ],
)
def test_missing_key(operator: str, value: str, expected: str) -> None:
    assert truth(operator, "k:absent", value, {"k:other": "x"}) == expected


def test_empty_multivalued_key_counts_as_missing() -> None:
    assert truth("ForAllValues:StringEquals", "aws:TagKeys", "a", {"aws:TagKeys": []}) == "true"
    assert truth("ForAnyValue:StringEquals", "aws:TagKeys", "a", {"aws:TagKeys": []}) == "false"
    assert truth("Null", "aws:TagKeys", "true", {"aws:TagKeys": []}) == "true"


def test_if_exists_evaluates_normally_when_the_key_is_present() -> None:
    assert truth("StringEqualsIfExists", "k:x", "a", {"k:x": "b"}) == "false"
    assert truth("StringEqualsIfExists", "k:x", "a", {"k:x": "a"}) == "true"
    assert (
        truth(
            "BoolIfExists",
            "aws:MultiFactorAuthPresent",
            "false",
            {"aws:MultiFactorAuthPresent": "true"},
        )
        == "false"
    )


@pytest.mark.parametrize(
    ("value", "present", "expected"),
    [
        ("true", False, "true"),
        ("true", True, "false"),
        ("false", True, "true"),
        ("false", False, "false"),
    ],
)
def test_null(value: str, present: bool, expected: str) -> None:
    ctx: Ctx = {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"} if present else {}
    assert truth("Null", "aws:TokenIssueTime", value, ctx) == expected


# --- set operators -----------------------------------------------------------------------

TAGS: Ctx = {"aws:TagKeys": ["CreatedBy", "CreatedAt"]}


def test_for_all_values() -> None:
    assert truth("ForAllValues:StringLike", "aws:TagKeys", "Created*", TAGS) == "true"
    assert (
        truth("ForAllValues:StringEquals", "aws:TagKeys", ["CreatedBy", "CreatedAt", "x"], TAGS)
        == "true"
    )
    assert truth("ForAllValues:StringEquals", "aws:TagKeys", "CreatedBy", TAGS) == "false"


def test_for_any_value() -> None:
    assert truth("ForAnyValue:StringEquals", "aws:TagKeys", "CreatedBy", TAGS) == "true"
    assert truth("ForAnyValue:StringEquals", "aws:TagKeys", ["x", "y"], TAGS) == "false"
    assert truth("foranyvalue:stringlike", "AWS:TAGKEYS", "*At", TAGS) == "true"


def test_negated_operators_under_set_qualifiers() -> None:
    # The IAM User Guide's ForAllValues:StringNotLike table.
    def deny_restricted(tags: list[str] | None) -> str:
        ctx: Ctx = {} if tags is None else {"aws:TagKeys": tags}
        return truth("ForAllValues:StringNotLike", "aws:TagKeys", "key1*", ctx)

    assert deny_restricted(["key1:legal"]) == "false"
    assert deny_restricted(["key1:hr", "key1:personnel"]) == "false"
    assert deny_restricted(["key2:audit"]) == "true"
    assert deny_restricted(None) == "true"
    # ForAnyValue with a negated operator: some request value matches none of the values.
    assert truth("ForAnyValue:StringNotEquals", "aws:TagKeys", "CreatedBy", TAGS) == "true"
    assert (
        truth("ForAnyValue:StringNotEquals", "aws:TagKeys", ["CreatedBy", "CreatedAt"], TAGS)
        == "false"
    )


def test_multivalued_key_without_qualifier() -> None:
    assert truth("StringEquals", "aws:TagKeys", "CreatedAt", TAGS) == "true"  # any value matches
    assert truth("StringNotEquals", "aws:TagKeys", "CreatedAt", TAGS) == "false"  # none may match
    assert truth("StringNotEquals", "aws:TagKeys", "Other", TAGS) == "true"


# --- blocks, unsupported operators, invalid values -------------------------------------------


def block(conditions: list[Condition], ctx: Ctx) -> tuple[str, tuple[str, ...]]:
    outcome = evaluate_conditions(conditions, RequestContext(ctx), variables=True)
    return outcome.truth, outcome.problems


def test_keys_and_operators_are_anded() -> None:
    ctx: Ctx = {"aws:PrincipalTag/team": "a", "aws:SourceIp": "10.0.0.1"}
    both = [
        Condition("StringEquals", "aws:PrincipalTag/team", ("a",)),
        Condition("IpAddress", "aws:SourceIp", ("10.0.0.0/8",)),
    ]
    assert block(both, ctx) == ("true", ())
    one_fails = [*both, Condition("StringEquals", "aws:PrincipalTag/team", ("b",))]
    assert block(one_fails, ctx) == ("false", ())
    assert block([], ctx) == ("true", ())


@pytest.mark.parametrize(
    "operator",
    [
        "StringFuzzyEquals",
        "ForSomeValues:StringEquals",
        "NullIfExists",
        "ForAllValues:Null",
        "IfExists",
    ],
)
def test_unsupported_operators_are_unknown_and_named(operator: str) -> None:
    result = evaluate_condition(
        Condition(operator, "k:x", ("a",)), RequestContext({"k:x": "a"}), variables=True
    )
    assert result == ("unknown", f"unsupported condition operator '{operator}'")


def test_unsupported_operator_in_a_block() -> None:
    ctx: Ctx = {"k:x": "a"}
    weird = Condition("StringFuzzyEquals", "k:x", ("a",))
    assert block([weird, Condition("StringEquals", "k:x", ("a",))], ctx) == (
        "unknown",
        ("unsupported condition operator 'StringFuzzyEquals'",),
    )
    # A false condition settles the block whatever the unknown one would say.
    assert block([weird, Condition("StringEquals", "k:x", ("b",))], ctx) == ("false", ())


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("NumericEquals", "ten"),
        ("DateLessThan", "soon"),
        ("Bool", "yes"),
        ("IpAddress", "300.1.1.1/8"),
        ("BinaryEquals", "%%"),
        ("Null", "maybe"),
    ],
)
def test_invalid_policy_values_are_unknown_not_false(operator: str, value: str) -> None:
    text = problem(operator, "k:x", value, {"k:x": "1"})
    assert text is not None and text.startswith(
        f"invalid value for condition operator '{operator}'"
    )
    assert truth(operator, "k:x", value, {"k:x": "1"}) == "unknown"
