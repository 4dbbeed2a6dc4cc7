"""Secrets inside one string: labelled values and STS session tokens, replaced by `REDACTED`.

- A label (`sessionToken`, `X-Amz-Security-Token`, `secretAccessKey`, `aws_secret_access_key`,
  `X-Amz-Signature`, `Signature`, `password`, `access_token`...), a separator (`=`, `:`,
  an encoded `=`, with the quotes and backslashes of quoted or escaped JSON), then the
  value: up to its closing quote when quoted, else up to the next delimiter (an encoded
  `&` is one), and in both cases up to where another label begins, so that one glued to it
  (`...sessionToken=X1secretKey=X2`) is redacted in turn. The label stays.
- An STS session token anywhere, recognized by the base64 of its first protobuf field.

Time is linear in the string's length at C speed: the labels are found with `str.find`
of a few words in the lowered text, regular expressions run only on short windows around
them, and a value's end is one character-class search; a regex over the whole string
would cost about a microsecond per character (seconds for a megabyte-long value).
"""

from __future__ import annotations

import re

REDACTED = "REDACTED"

# Field names whose whole value is a secret, compared lowercased without `-` and `_`.
_SECRET_FIELDS = frozenset(
    {
        "sessiontoken",
        "securitytoken",
        "xamzsecuritytoken",
        "awssessiontoken",
        "awssecuritytoken",
        "secretaccesskey",
        "awssecretaccesskey",
        "secretkey",
        "clientsecret",
        "xamzsignature",
        "signature",
        "password",
        "samlassertion",
        "webidentitytoken",
        "token",
        "accesstoken",
        "idtoken",
        "refreshtoken",
    }
)
# Every label and secret field name contains one of these words (lowercased).
WORDS = ("token", "secret", "signature", "password", "assertion")
# STS session tokens are base64 of a protobuf: the first field today is `origin`
# (`IQoJb3JpZ2lu...`), older ones `zer/aws` (`FwoGZXIvYXdzE`, `FQoGZXIvYXdzE`) or `aws`
# (`AQoDYXdzE`); the two characters before these needles vary.
TOKEN_NEEDLES = ("oJb3JpZ2lu", "oGZXIvYXdzE", "oDYXdzE")

# Names of secrets, wherever they are (`...3rsessionToken=` too), except that a bare
# `token` must not end a longer word (`nextToken` is no secret), nor a web identity token
# follow `subjectFrom` (the subject is evidence).
_LABEL = (
    r"(?:session[-_]?token|security[-_]?token|secret[-_]?access[-_]?key|secret[-_]?key"
    r"|client[-_]?secret|signature|password|saml[-_]?assertion"
    r"|(?<!from)web[-_]?identity[-_]?token|(?<![A-Za-z])(?:access[-_]?|id[-_]|refresh[-_]?)?token)"
)
# A label, its separator, and the opening quote of a quoted value (group 1).
_HEAD = re.compile(
    rf"{_LABEL}[\"'\\]{{0,4}}\s{{0,8}}(?:=|:|%3[dD])\s{{0,8}}(\\?[\"'])?", re.IGNORECASE
)
# The longest run of characters before a word that can belong to its label
# (`web-identity-` before `token`), and the longest head.
_BEFORE = 14
_HEAD_MAX = 64
# Values, matched from where they begin (possessive: no backtracking, so no memory
# growing with their length). `\/` is a slash escaped in quoted JSON and goes on.
_QUOTED_VALUE = re.compile(r"(?:[^\"'\\]++|\\/)*+")
_BARE_VALUE = re.compile(r"(?:[^\s&\"'\\,;}\]<>)%]++|\\/|%(?!26))*+")
_TOKEN_REST = re.compile(r"(?:[A-Za-z0-9/+=]++|\\/|%(?!26))*+")
# A string holding more candidates than this is hostile junk: it is redacted whole, which
# keeps the time bounded and loses nothing a record means.
_MANY = 10_000
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def lowered(text: str) -> str:
    """`text` lowercased with every offset kept (`str.lower` makes `İ` two characters)."""
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


def is_secret_field(key: str) -> bool:
    return len(key) <= 32 and key.lower().replace("-", "").replace("_", "") in _SECRET_FIELDS


def redact_text(text: str) -> str:
    """`text` with every labelled secret value and session token replaced by `REDACTED`."""
    spans = _labelled(text) + _tokens(text)
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    at = 0
    for start, end in spans:
        if end <= at:
            continue
        start = max(start, at)
        out.append(text[at:start])
        out.append(REDACTED)
        at = end
    out.append(text[at:])
    return "".join(out)


def _positions(haystack: str, needles: tuple[str, ...]) -> list[int]:
    """Where the needles occur, sorted; more than `_MANY` of them: just that many + 1."""
    found: list[int] = []
    for needle in needles:
        at = haystack.find(needle)
        while at >= 0 and len(found) <= _MANY:
            found.append(at)
            at = haystack.find(needle, at + 1)
    found.sort()
    return found


def _labelled(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every labelled value."""
    if "=" not in text and ":" not in text and "%3" not in text:
        return []  # no separator: no labelled value (a field name, or prose)
    words = _positions(lowered(text), WORDS)
    if len(words) > _MANY:
        return [(0, len(text))]
    spans = []
    cursor = 0
    for index, word in enumerate(words):
        if word < cursor:
            continue
        head = _HEAD.search(text, max(cursor, word - _BEFORE), word + _HEAD_MAX)
        if head is None:
            continue
        start = head.end()
        end = _value_end(text, start, quoted=head.group(1) is not None)
        # A label glued inside the value ends it there.
        for later in words[index + 1 :]:
            if later >= end:
                break
            glued = _HEAD.search(text, max(start, later - _BEFORE), later + _HEAD_MAX)
            if glued is not None and glued.start() < end:
                end = glued.start()
                break
        if end > start:
            spans.append((start, end))
        cursor = max(end, head.end())
    return spans


def _value_end(text: str, start: int, *, quoted: bool) -> int:
    value = (_QUOTED_VALUE if quoted else _BARE_VALUE).match(text, start)
    return value.end() if value else start


def _tokens(text: str) -> list[tuple[int, int]]:
    needles = _positions(text, TOKEN_NEEDLES)
    if len(needles) > _MANY:
        return [(0, len(text))]
    spans = []
    cursor = 0
    for at in needles:
        if at < cursor:
            continue
        start = at
        while start > at - 2 and start > 0 and text[start - 1] in _BASE64:
            start -= 1
        rest = _TOKEN_REST.match(text, at)
        cursor = rest.end() if rest else at
        spans.append((start, cursor))
    return spans
