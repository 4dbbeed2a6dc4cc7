"""The simulated organization: accounts, roles and their policies, people, machines."""

from __future__ import annotations

from dataclasses import dataclass, field

IDENTITY = "111122223333"  # where people land through the identity provider
PROD = "444455556666"
DEV = "777788889999"
ACCOUNTS = {IDENTITY: "identity", PROD: "prod", DEV: "dev"}

SAML_PROVIDER = f"arn:aws:iam::{IDENTITY}:saml-provider/Okta"
OIDC_ISSUER = "token.actions.githubusercontent.com"

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
POWER_USER = "arn:aws:iam::aws:policy/PowerUserAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def role_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def user_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def session_arn(account: str, role: str, session: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role}/{session}"


@dataclass(frozen=True)
class Role:
    account: str
    name: str
    managed: tuple[str, ...] = ()
    inline: dict[str, str] = field(default_factory=dict)
    max_session_seconds: int = 3600

    @property
    def arn(self) -> str:
        return role_arn(self.account, self.name)


ASSUME_ANY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
    '"Resource":"arn:aws:iam::*:role/*"}]}'
)
WEB_READS = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"ReadAssets","Effect":"Allow",'
    '"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::acme-web-assets",'
    '"arn:aws:s3:::acme-web-assets/*"]}]}'
)

ROLES = {
    "Engineer": Role(
        IDENTITY, "Engineer", (READ_ONLY,), {"AssumeWorkloadRoles": ASSUME_ANY}, 28800
    ),
    "OrgAdmin": Role(PROD, "OrgAdmin", (ADMIN,), {}, 3600),
    "Deploy": Role(PROD, "Deploy", (POWER_USER,), {}, 3600),
    "ReadOnly": Role(PROD, "ReadOnly", (READ_ONLY,), {}, 3600),
    "IncidentResponder": Role(PROD, "IncidentResponder", (READ_ONLY,), {}, 3600),
    "WebServer": Role(PROD, "WebServer", (), {"ReadAssets": WEB_READS}, 3600),
    "CIDeploy": Role(DEV, "CIDeploy", (POWER_USER,), {}, 3600),
    "Developer": Role(DEV, "Developer", (POWER_USER,), {}, 14400),
}

PEOPLE = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "yvonne",
)
IAM_USERS = ("ops-jane", "ops-mike", "ops-sam", "ops-lee")
REPOSITORIES = ("acme/web", "acme/api", "acme/infra", "acme/billing")

PROD_ACTIONS = (
    ("ec2:DescribeInstances", "*"),
    ("s3:GetObject", "arn:aws:s3:::acme-prod-data/reports/q3.csv"),
    ("s3:ListBucket", "arn:aws:s3:::acme-prod-data"),
    ("logs:FilterLogEvents", "arn:aws:logs:us-east-1:444455556666:log-group:/app/web"),
    ("ecs:UpdateService", "arn:aws:ecs:us-east-1:444455556666:service/prod/web"),
    ("iam:ListRoles", "*"),
    ("rds:DescribeDBInstances", "*"),
)
WEB_ACTIONS = (
    ("s3:GetObject", "arn:aws:s3:::acme-web-assets/index.html"),
    ("s3:ListBucket", "arn:aws:s3:::acme-web-assets"),
)
