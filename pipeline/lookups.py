"""What a user types for a key, a role or an account, read the way they meant it.

Key ids are trimmed and upper-cased; a role may be given as its IAM ARN with or without
its path, as an assumed-role session ARN, or as its bare name (role names are unique in
an account whatever the path, and assumed-role ARNs drop the path); an account must be
12 digits. Malformed input is an `InputError` that says what was expected.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.errors import InputError

_KEY = re.compile(r"^[A-Z0-9]{16,128}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_ROLE_ARN = re.compile(r"^arn:[\w-]+:iam::(\d{12}):role/(?:[^/]+/)*([\w+=,.@-]{1,64})$")
_SESSION_ARN = re.compile(r"^arn:[\w-]+:sts::(\d{12}):assumed-role/([\w+=,.@-]{1,64})/.+$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")

# The name of a stored role ARN (its last path segment) and its account.
ROLE_NAME_SQL = "lower(regexp_extract(role_arn, '[^/]+$'))"
ROLE_ACCOUNT_SQL = "split_part(role_arn, ':', 5)"


def looks_like_key(text: str) -> bool:
    return bool(_KEY.match(text.strip().upper()))


def access_key(text: str) -> str:
    """An access key id as a user may type it: trimmed and upper-cased, else a clear error."""
    key = text.strip().upper()
    if not key:
        raise InputError("empty access key id")
    if not _KEY.match(key):
        raise InputError(
            f"malformed access key id {_shown(text)}: expected 16 to 128 letters and digits, "
            "e.g. ASIAIOSFODNN7EXAMPLE"
        )
    return key


def account_id(text: str) -> str:
    value = text.strip()
    if not _ACCOUNT.match(value):
        raise InputError(
            f"malformed account id {_shown(text)}: expected 12 digits, e.g. 444455556666"
        )
    return value


def _shown(text: str) -> str:
    """What a user typed, quoted and cut short: an error message is no place for a megabyte."""
    return repr(text if len(text) <= 80 else text[:80] + "...")


def role_condition(text: str, *, strict: bool = True) -> tuple[str, list[Any]]:
    """SQL over `role_arn` matching the role a user named, and its parameters.

    Not `strict` (a filter chosen from a list), anything else matches the stored ARN
    exactly, which for text that is no role is nothing.
    """
    value = text.strip()
    found = _ROLE_ARN.match(value) or _SESSION_ARN.match(value)
    if found:
        account, name = found.groups()
        return (
            f"(role_arn = ? OR ({ROLE_ACCOUNT_SQL} = ? AND {ROLE_NAME_SQL} = ?))",
            [value, account, name.lower()],
        )
    if _ROLE_NAME.match(value):
        return f"{ROLE_NAME_SQL} = ?", [value.lower()]
    if not strict:
        return "role_arn = ?", [value]
    raise InputError(
        f"malformed role {_shown(text)}: give its ARN (with or without path), e.g. "
        "arn:aws:iam::444455556666:role/OrgAdmin, or its name, e.g. OrgAdmin"
    )
