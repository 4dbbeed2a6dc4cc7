"""Typed reads of a CloudTrail record whose every field may be missing or of the wrong type."""

from __future__ import annotations

import re
from typing import Any


class Unmapped(Exception):
    """A record that yields no event, and why (the reason is a summary category)."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def obj(value: Any, key: str) -> dict[str, Any]:
    """`value[key]` when it is an object, else an empty one."""
    if isinstance(value, dict):
        inner = value.get(key)
        if isinstance(inner, dict):
            return inner
    return {}


def text(value: Any, key: str, *, limit: int = 4096) -> str | None:
    """`value[key]` when it is a non-empty string of sensible length, else None."""
    if isinstance(value, dict):
        inner = value.get(key)
        # isspace: the same test as a non-empty strip(), without building a string
        if isinstance(inner, str) and 0 < len(inner) <= limit and not inner.isspace():
            return inner
    return None


def integer(value: Any, key: str) -> int | None:
    inner = value.get(key) if isinstance(value, dict) else None
    if isinstance(inner, bool):
        return None
    if isinstance(inner, int | float) and 0 <= inner <= 10_000_000:
        return int(inner)
    if isinstance(inner, str) and inner.isdigit() and len(inner) <= 8:
        return int(inner)
    return None


def flag(value: Any, key: str) -> bool | None:
    """CloudTrail's booleans: JSON true/false, or the strings "true"/"false"/"Yes"/"No"."""
    inner = value.get(key) if isinstance(value, dict) else None
    if isinstance(inner, bool):
        return inner
    if isinstance(inner, str):
        lowered = inner.strip().lower()
        if lowered in ("true", "yes"):
            return True
        if lowered in ("false", "no"):
            return False
    return None


def strings(value: Any, key: str) -> list[str]:
    inner = value.get(key) if isinstance(value, dict) else None
    if not isinstance(inner, list):
        return []
    return [v for v in inner if isinstance(v, str) and 0 < len(v) <= 2048]


def tags(value: Any) -> dict[str, str]:
    """Session tags: the API's `[{key, value}]` list, or SAML/OIDC `principalTags` object."""
    out: dict[str, str] = {}
    params = value if isinstance(value, dict) else {}
    listed = params.get("tags")
    if isinstance(listed, list):
        for item in listed:
            if isinstance(item, dict):
                k, v = item.get("key", item.get("Key")), item.get("value", item.get("Value"))
                if isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 128:
                    out[k] = v[:256]
    principal = params.get("principalTags")
    if isinstance(principal, dict):
        for k, v in principal.items():
            if isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 128:
                out[k] = v[:256]
    return out


def policy_arns(value: Any) -> list[str]:
    """`policyArns`: a list of `{arn}` objects (or, tolerated, of strings)."""
    inner = value.get("policyArns") if isinstance(value, dict) else None
    if not isinstance(inner, list):
        return []
    out = []
    for item in inner:
        arn = item.get("arn") if isinstance(item, dict) else item
        if isinstance(arn, str) and 0 < len(arn) <= 2048:
            out.append(arn)
    return out


def role_arn_of_session(session_arn: str) -> str | None:
    """`arn:aws:sts::A:assumed-role/R/S` -> `arn:aws:iam::A:role/R` (the path is not known)."""
    parts = session_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "sts" or not parts[5].startswith("assumed-role/"):
        return None
    segments = parts[5].split("/")
    if len(segments) < 3 or not segments[1]:
        return None
    return f"arn:{parts[1]}:iam::{parts[4]}:role/{segments[1]}"


def account_of(arn: str | None) -> str | None:
    if not arn:
        return None
    parts = arn.split(":", 5)
    if len(parts) == 6 and len(parts[4]) == 12 and parts[4].isdigit():
        return parts[4]
    return None


# What an AWS API event name looks like. Anything else (a token pasted where a name
# should be) is never carried onto the log as an action, nor quoted in a summary.
EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")


def is_event_name(name: str) -> bool:
    return EVENT_NAME.fullmatch(name) is not None
