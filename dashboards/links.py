"""Where each identifier leads: every ARN, key id and address shown is a link to its page."""

from __future__ import annotations

from urllib.parse import quote


def _q(value: str) -> str:
    return quote(value, safe="")


def session_href(session_id: str) -> str:
    return "/session?id=" + _q(session_id)


def user_href(arn: str) -> str:
    """An IAM user's (or the root's) page."""
    return "/pivot/user?arn=" + _q(arn)


def role_href(arn: str) -> str:
    return "/pivot/role?arn=" + _q(arn)


def key_href(key: str) -> str:
    """An access key's page: a long-term key's user and calls, a temporary key's session."""
    return "/pivot/key?id=" + _q(key)


def ip_href(address: str) -> str:
    return "/pivot/ip?addr=" + _q(address)


def investigate_href(principal_arn: str) -> str:
    """The Investigate page showing a principal's sessions."""
    return "/investigate?principal=" + _q(principal_arn)


def is_user(arn: str) -> bool:
    """An IAM user or an account's root, by its ARN."""
    resource = arn.split(":", 5)[-1] if arn.startswith("arn:") else ""
    return resource.startswith("user/") or resource == "root"


def principal_href(arn: str) -> str:
    """A principal or origin: a user's or a role's page, else its sessions (a federated
    person, a service) on the Investigate page."""
    if is_user(arn):
        return user_href(arn)
    if arn.startswith("arn:") and ":role/" in arn:
        return role_href(arn)
    return investigate_href(arn)
