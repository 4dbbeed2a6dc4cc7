from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from policy_builders import allow, deny, policy

from pipeline.policy import (
    Condition,
    Policy,
    PolicyDocumentError,
    PolicyError,
    Principal,
    load_policy,
    parse_policy,
)


def test_single_strings_and_single_statement_object_are_accepted() -> None:
    parsed = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
        }
    )
    (st,) = parsed.statements
    assert st.action == ("s3:Get*",)
    assert st.resource == ("*",)
    assert st.not_action is None and st.not_resource is None
    assert parsed.variables_enabled


def test_lists_and_json_text() -> None:
    text = json.dumps(
        policy(
            allow(
                ["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"], sid="S"
            )
        )
    )
    parsed = parse_policy(text, name="inline")
    assert parsed.name == "inline"
    (st,) = parsed.statements
    assert st.sid == "S" and st.label == "statement 'S'"
    assert st.action == ("s3:GetObject", "s3:PutObject")


def test_missing_version_means_2008_without_variables() -> None:
    parsed = parse_policy(policy(allow(), version=None))
    assert parsed.version == "2008-10-17"
    assert not parsed.variables_enabled


def test_statement_label_falls_back_to_index() -> None:
    parsed = parse_policy(policy(allow(), deny()))
    assert [s.label for s in parsed.statements] == ["statement at index 0", "statement at index 1"]


def test_conditions_are_flattened_and_scalars_become_text() -> None:
    parsed = parse_policy(
        policy(
            allow(
                condition={
                    "Bool": {"aws:SecureTransport": True},
                    "NumericLessThan": {"s3:max-keys": 10, "x:ratio": 1.5},
                    "StringEquals": {"aws:PrincipalTag/team": ["a", "b"]},
                }
            )
        )
    )
    assert parsed.statements[0].conditions == (
        Condition("Bool", "aws:SecureTransport", ("true",)),
        Condition("NumericLessThan", "s3:max-keys", ("10",)),
        Condition("NumericLessThan", "x:ratio", ("1.5",)),
        Condition("StringEquals", "aws:PrincipalTag/team", ("a", "b")),
    )


def test_principal_kept_raw() -> None:
    parsed = parse_policy(
        policy(
            {
                "Effect": "Allow",
                "Principal": {
                    "AWS": ["arn:aws:iam::1:role/R", "2"],
                    "Service": "ec2.amazonaws.com",
                },
                "Action": "sts:AssumeRole",
            },
            {"Effect": "Deny", "NotPrincipal": "*", "Action": "*", "Resource": "*"},
        )
    )
    first, second = parsed.statements
    assert first.principal == Principal(
        wildcard=False,
        entries=(("AWS", ("arn:aws:iam::1:role/R", "2")), ("Service", ("ec2.amazonaws.com",))),
    )
    assert first.principal is not None and first.principal.values_of("AWS") == (
        "arn:aws:iam::1:role/R",
        "2",
    )
    assert first.resource is None  # resource-based statement: the resource is implied
    assert second.not_principal == Principal(wildcard=True)


def test_url_encoded_document_as_cloudtrail_records_it() -> None:
    text = quote(json.dumps(policy(allow("s3:*"))))
    assert parse_policy(text).statements[0].action == ("s3:*",)


def test_statements_are_frozen() -> None:
    st = parse_policy(policy(allow())).statements[0]
    with pytest.raises(AttributeError):
        st.effect = "Deny"  # type: ignore[misc]


def test_load_policy_accepts_named_pairs_and_parsed_policies() -> None:
    parsed = load_policy(("Named", policy(allow())))
    assert isinstance(parsed, Policy) and parsed.name == "Named"
    assert load_policy(parsed) is parsed
    assert load_policy(("Renamed", parsed)).name == "Renamed"
    assert load_policy(json.dumps(policy(allow()))).name is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ({"Version": "2012-10-17"}, "must have a Statement"),
        ({"Version": "2099-01-01", "Statement": []}, "unsupported policy Version"),
        ({"Version": ["2012-10-17"], "Statement": []}, "unsupported policy Version"),
        ({"Statement": [], "Extra": 1}, "unknown policy element"),
        ({"Statement": "nope"}, "Statement must be an object or a list"),
        ({"Statement": ["nope"]}, "statement at index 0 must be a JSON object"),
        (
            {"Statement": {"Effect": "allow", "Action": "*", "Resource": "*"}},
            "Effect must be 'Allow' or 'Deny'",
        ),
        (
            {"Statement": {"Effect": "Allow", "Actions": "*", "Resource": "*"}},
            "unknown statement at index 0 element(s) 'Actions'",
        ),
        ({"Statement": {"Effect": "Allow", "Resource": "*"}}, "must have Action or NotAction"),
        ({"Statement": {"Effect": "Allow", "Action": "*"}}, "must have Resource or NotResource"),
        (
            {
                "Statement": {
                    "Sid": "S",
                    "Effect": "Allow",
                    "Action": "*",
                    "NotAction": "*",
                    "Resource": "*",
                }
            },
            "statement 'S' has both Action and NotAction",
        ),
        (
            {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "*"}},
            "both Resource and NotResource",
        ),
        (
            {"Statement": {"Effect": "Allow", "Action": 5, "Resource": "*"}},
            "Action of statement at index 0 must be a string or a list",
        ),
        (
            {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": []}},
            "Condition must be an object",
        ),
        (
            {
                "Statement": {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"StringEquals": "x"},
                }
            },
            "must map to a non-empty object",
        ),
        (
            {
                "Statement": {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"k": []}},
                }
            },
            "must not be empty",
        ),
        (
            {
                "Statement": {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"k": None}},
                }
            },
            "must be strings, numbers or booleans",
        ),
        (
            {"Statement": {"Effect": "Allow", "Action": "*", "Principal": 7}},
            "Principal must be '*' or a non-empty object",
        ),
        (
            {
                "Statement": {
                    "Effect": "Allow",
                    "Action": "*",
                    "Principal": "*",
                    "NotPrincipal": "*",
                }
            },
            "both Principal and NotPrincipal",
        ),
        (
            {"Statement": {"Sid": 3, "Effect": "Allow", "Action": "*", "Resource": "*"}},
            "Sid of statement at index 0 must be a string",
        ),
        ({"Id": 3, "Statement": []}, "Id must be a string"),
        (
            {"Statement": {"Effect": "Allow", "NotAction": [], "Resource": "*"}},
            "NotAction of statement at index 0 must not be empty",
        ),
    ],
)
def test_bad_documents_raise_with_a_clear_message(document: object, message: str) -> None:
    with pytest.raises(PolicyDocumentError, match=re.escape(message)) as caught:
        parse_policy(document)  # type: ignore[arg-type]
    assert isinstance(caught.value, PolicyError)


def test_bad_named_pair() -> None:
    with pytest.raises(PolicyDocumentError, match="named policy"):
        load_policy((1, policy(allow())))  # type: ignore[arg-type]
