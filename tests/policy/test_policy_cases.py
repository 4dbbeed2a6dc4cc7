from __future__ import annotations

import json
from typing import Any

from policy_builders import ADMIN, allow, deny, policy, revoke_older_sessions

from pipeline.policy import evaluate_cases

OBJECT = "arn:aws:s3:::bucket/key"


def line(**case: Any) -> str:
    return json.dumps(case)


def test_one_output_per_case_in_order() -> None:
    name, revoke = revoke_older_sessions("2024-10-10T09:43:48.085Z")
    lines = [
        line(action="s3:GetObject", resource=OBJECT, identity_policies=[ADMIN]),
        line(action="s3:GetObject", resource=OBJECT, identity_policies=[]),
        line(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[ADMIN, {"name": name, "document": revoke}],
            context={"aws:TokenIssueTime": "2024-10-10T09:00:00Z"},
        ),
        line(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[json.dumps(ADMIN)],
            session_policies=[policy(allow("ec2:*"))],
            boundary=None,
            context=None,
        ),
        line(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[ADMIN],
            boundary={"name": "B", "document": json.dumps(policy(allow("s3:*")))},
        ),
    ]
    out = list(evaluate_cases(lines))
    assert [o["effect"] for o in out] == [
        "allow",
        "implicit_deny",
        "explicit_deny",
        "implicit_deny",
        "allow",
    ]
    assert (
        out[2]["reason"]
        == "explicit deny by statement at index 0 of policy 'AWSRevokeOlderSessions'"
    )
    assert (
        out[3]["reason"] == f"implicit deny: session policy does not allow s3:GetObject on {OBJECT}"
    )
    assert "permissions boundary 'B'" in out[4]["reason"]
    assert all(set(o) == {"effect", "reason"} for o in out)


def test_malformed_lines_yield_errors_and_the_batch_goes_on() -> None:
    good = line(action="s3:GetObject", resource=OBJECT, identity_policies=[ADMIN])
    lines = [
        "{not json",
        good,
        "[1, 2]",
        line(resource=OBJECT, identity_policies=[]),
        line(action="s3:GetObject", resource=OBJECT),
        line(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[{"Statement": {"Effect": "Perhaps"}}],
        ),
        line(action="s3:GetObject", resource=OBJECT, identity_policies=[7]),
        line(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[],
            context={"k": {"nested": 1}},
        ),
        line(action="s3:GetObject", resource=OBJECT, identity_policies=[], context=[1]),
        line(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[{"name": 3, "document": ADMIN}],
        ),
        line(action="GetObject", resource=OBJECT, identity_policies=[]),
        good,
    ]
    out = list(evaluate_cases(lines))
    assert len(out) == len(lines)
    assert [o["effect"] for o in out] == ["error", "allow"] + ["error"] * 9 + ["allow"]
    assert out[0]["reason"].startswith("line 1: not valid JSON")
    assert out[2]["reason"] == "line 3: a case must be a JSON object"
    assert out[3]["reason"] == "line 4: 'action' is required and must be a string"
    assert out[4]["reason"] == "line 5: 'identity_policies' must be a list of policies"
    assert "Effect must be 'Allow' or 'Deny'" in out[5]["reason"]
    assert (
        out[6]["reason"]
        == "line 7: identity_policies[0]: a policy must be a JSON object or a string"
    )


def test_context_scalars_are_accepted() -> None:
    doc = policy(
        allow(),
        deny(condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}),
        deny("s3:ListBucket", condition={"NumericGreaterThan": {"s3:max-keys": "100"}}),
    )
    lines = [
        line(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[doc],
            context={"aws:MultiFactorAuthPresent": False},
        ),
        line(
            action="s3:GetObject",
            resource=OBJECT,
            identity_policies=[doc],
            context={"aws:MultiFactorAuthPresent": True},
        ),
        line(
            action="s3:ListBucket",
            resource=OBJECT,
            identity_policies=[doc],
            context={"aws:MultiFactorAuthPresent": True, "s3:max-keys": 500},
        ),
        line(
            action="s3:ListBucket",
            resource=OBJECT,
            identity_policies=[doc],
            context={"aws:TagKeys": ["a", 1]},
        ),
    ]
    assert [o["effect"] for o in evaluate_cases(lines)] == [
        "explicit_deny",
        "allow",
        "explicit_deny",
        "allow",
    ]


def test_blank_lines_are_skipped_and_line_numbers_count_them() -> None:
    out = list(evaluate_cases(["", "   \n", "{oops\n"]))
    assert out == [{"effect": "error", "reason": out[0]["reason"]}]
    assert out[0]["reason"].startswith("line 3:")


def test_resource_policy_and_session_arn_keys() -> None:
    session = "arn:aws:sts::1:assumed-role/R/s"
    rp = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": session},
            "Action": "s3:GetObject",
            "Resource": "*",
        }
    )
    out = list(
        evaluate_cases(
            [
                line(
                    action="s3:GetObject",
                    resource=OBJECT,
                    identity_policies=[],
                    resource_policy=rp,
                    session_arn=session,
                )
            ]
        )
    )
    assert out[0]["effect"] == "allow"


def test_is_lazy() -> None:
    def lines() -> Any:
        yield line(action="s3:GetObject", resource=OBJECT, identity_policies=[ADMIN])
        raise AssertionError("read too far")

    assert next(evaluate_cases(lines()))["effect"] == "allow"
