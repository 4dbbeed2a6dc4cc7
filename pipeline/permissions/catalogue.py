"""Well-known AWS managed policies, for when the history holds no document for them.

`get-account-authorization-details` lists AWS managed policies only when asked to, and
the simulator attaches them by ARN alone, so the documents of the common ones ship here.
AdministratorAccess and PowerUserAccess are the published documents (PowerUserAccess v12,
docs.aws.amazon.com/aws-managed-policy/latest/reference/PowerUserAccess.html).
ReadOnlyAccess is thousands of actions long and changes monthly: it is *approximated* by
read-style action prefixes, and every reason that relies on it says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy/"


@dataclass(frozen=True)
class CataloguedPolicy:
    arn: str
    name: str
    document: str
    approximate: bool = False


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ADMINISTRATOR_ACCESS = CataloguedPolicy(
    AWS_POLICY_PREFIX + "AdministratorAccess",
    "AdministratorAccess",
    _doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
)

POWER_USER_ACCESS = CataloguedPolicy(
    AWS_POLICY_PREFIX + "PowerUserAccess",
    "PowerUserAccess",
    _doc(
        {
            "Effect": "Allow",
            "NotAction": ["iam:*", "organizations:*", "account:*"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "account:GetAccountInformation",
                "account:GetGovCloudAccountInformation",
                "account:GetPrimaryEmail",
                "account:ListRegions",
                "iam:CreateServiceLinkedRole",
                "iam:DeleteServiceLinkedRole",
                "iam:ListRoles",
                "organizations:DescribeEffectivePolicy",
                "organizations:DescribeOrganization",
            ],
            "Resource": "*",
        },
    ),
)

READ_STYLE_ACTIONS = (
    "*:BatchGet*",
    "*:Describe*",
    "*:Filter*",
    "*:Get*",
    "*:List*",
    "*:Lookup*",
    "*:Query*",
    "*:Scan*",
    "*:Search*",
    "*:View*",
)

READ_ONLY_ACCESS = CataloguedPolicy(
    AWS_POLICY_PREFIX + "ReadOnlyAccess",
    "ReadOnlyAccess",
    _doc(
        {
            "Sid": "ReadStyleActions",
            "Effect": "Allow",
            "Action": list(READ_STYLE_ACTIONS),
            "Resource": "*",
        }
    ),
    approximate=True,
)

CATALOGUE: dict[str, CataloguedPolicy] = {
    p.arn: p for p in (ADMINISTRATOR_ACCESS, POWER_USER_ACCESS, READ_ONLY_ACCESS)
}

APPROXIMATION_NOTE = (
    "{name} is approximated as read-style actions ("
    + ", ".join(READ_STYLE_ACTIONS[:4])
    + " ...), not its published document"
)


def catalogued(policy_arn: str) -> CataloguedPolicy | None:
    """The built-in document of a well-known AWS managed policy, if we ship one."""
    return CATALOGUE.get(policy_arn)


def policy_name_of(policy_arn: str) -> str:
    """`arn:aws:iam::aws:policy/job-function/ViewOnlyAccess` -> `ViewOnlyAccess`."""
    return policy_arn.rsplit("/", 1)[-1]
