"""Secrets out of a raw CloudTrail record, before any of it can reach the log.

CloudTrail records quote whatever the caller sent: an `errorMessage` can repeat a URL with
`sessionToken=...&secretAccessKey=...`, an S3 object key can be a pre-signed URL with
`X-Amz-Security-Token=` and `X-Amz-Signature=`, a request parameter can be named
`SessionToken`. Wherever it is in the record, this redacts:

- the value of a field named like a secret (`sessionToken`, `SecretAccessKey`,
  `aws_secret_access_key`, `X-Amz-Security-Token`, `password`...);
- in any string (keys too), the value after such a label and `=` or `:` (URL parameters,
  quoted or escaped JSON, `key: value` text, an `Authorization` header's `Signature=`);
- in any string, an STS session token recognized by its base64 prefix.

The label stays (`X-Amz-Security-Token=REDACTED`): an investigator still sees that a
credential was there. `X-Amz-Credential` (an access key id, a date, a region) is not a
secret and stays. A bare 40-character string is not redacted: it cannot be told apart from
an S3 key or a hash, which are evidence.

In the same pass, lone surrogates (which JSON can carry but UTF-8, and so the log, cannot:
an event holding one cannot be encoded) become U+FFFD.

It runs on every record, so it is built to be cheap. First, the record serialized by
orjson (a few microseconds, in C): a plain-ASCII text in which no word of a label and no
token needle occurs, once the few field names known to be innocent (`sAMLAssertionID`) are
taken out, cannot hold anything to redact, and the record is returned as it is. Otherwise
one pass gathers the record's strings,
a few substring tests on them joined decide whether anything can match, and a record
without a match (nearly all of them) is returned as it is. Only a record that may hold a
secret is copied, with the regular expressions run on the strings that need them.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import accumulate
from typing import Any, NamedTuple, TypeVar

import orjson
from pydantic import BaseModel

from pipeline.cloudtrail.secrettext import (
    REDACTED,
    TOKEN_NEEDLES,
    WORDS,
    is_secret_field,
    lowered,
    redact_text,
)

E = TypeVar("E", bound=BaseModel)

_CONTAINERS = (dict, list)
_SURROGATE = re.compile("[\ud800-\udfff]")
# Copying recurses; a container with a secret deeper than this is redacted whole.
_MAX_DEPTH = 200
# id(container) -> the range of its strings in the gathered list.
_Spans = dict[int, tuple[int, int]]


def redact(raw: Any) -> Any:
    """`raw` with its secrets redacted: the same object when it holds none, else a copy
    in which only the containers on the way to a redacted value are new."""
    if isinstance(raw, str):
        return redact_text(raw)
    if not isinstance(raw, _CONTAINERS):
        return raw
    raw = _without_issued_token(raw)
    if _plainly_clean(raw):
        return raw
    strings: list[str] = []
    spans: _Spans = {}
    try:
        _gather(raw, strings, spans)
    except RecursionError:
        strings, spans = [], {}
        _gather_deep(raw, strings, spans)
    try:
        blob = "".join(strings)
    except TypeError:  # a key that is not a string (not from JSON): inspect every string
        suspects: Iterable[int] = [i for i, s in enumerate(strings) if isinstance(s, str)]
        repair = True
    else:
        repair = not blob.isascii() and not _encodable(blob)
        low = lowered(blob)
        if repair:
            suspects = range(len(strings))
        elif not _may_hold_secret(blob, low):
            return raw
        else:
            suspects = _suspects(strings, blob, low)
    found = _Found(strings, suspects, repair=repair)
    if not found.marks:
        return raw
    return found.copy(raw, spans)


# Whole strings (JSON-quoted, lowercased) that hold a word but are no label, nor a secret
# field's name, in any case: CloudTrail's own field names. `redact_text` leaves each as it
# is and `is_secret_field` is false for each (tests/test_cloudtrail_redact.py checks it).
INNOCENT = (b'"samlassertionid"',)
_WORDS_BYTES = tuple(w.encode() for w in WORDS)
_NEEDLES_BYTES = tuple(n.encode() for n in TOKEN_NEEDLES)


def _plainly_clean(raw: Any) -> bool:
    """True when the record surely holds nothing to redact or repair (False: look closer).

    Sound because a word or needle inside one string shows in the serialized text too
    (escapes begin with a backslash, which no word holds), and a lone surrogate, a key that
    is not a string or a record nested too deeply makes orjson refuse (the closer look then
    handles it). Non-ASCII text is left to the closer look, whose lowercasing is Unicode's.
    """
    try:
        text = orjson.dumps(raw)
    except (TypeError, orjson.JSONEncodeError):
        return False
    if not text.isascii():
        return False
    for needle in _NEEDLES_BYTES:
        if needle in text:
            return False
    low = text.lower()
    for innocent in INNOCENT:
        if innocent in low:
            low = low.replace(innocent, b'""')
    for word in _WORDS_BYTES:  # noqa: SIM110 (a loop, not all(): no generator per record)
        if word in low:
            return False
    return True


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _may_hold_secret(blob: str, low: str) -> bool:
    """Whether a word of a label or a token needle occurs (WORDS spelled out: `in` is the
    fastest test there is, and nearly every record fails it)."""
    return (
        "token" in low
        or "secret" in low
        or "signature" in low
        or "password" in low
        or "assertion" in low
        or TOKEN_NEEDLES[0] in blob
        or TOKEN_NEEDLES[1] in blob
        or TOKEN_NEEDLES[2] in blob
    )


def _without_issued_token(raw: Any) -> Any:
    """`raw` without `responseElements.credentials.sessionToken`: where every record that
    issues credentials holds its token (a quarter of a busy trail), dropped at the cost of
    three small copies, so that such a record rarely needs the general search."""
    if isinstance(raw, dict):
        response = raw.get("responseElements")
        if isinstance(response, dict):
            credentials = response.get("credentials")
            if isinstance(credentials, dict) and "sessionToken" in credentials:
                credentials = {k: v for k, v in credentials.items() if k != "sessionToken"}
                return {**raw, "responseElements": {**response, "credentials": credentials}}
    return raw


def _gather(value: Any, out: list[str], spans: _Spans) -> None:
    """Every string of the container `value`, dictionary keys included, and the range of
    each container's strings in `out` (recursive: the fastest walk in pure Python)."""
    start = len(out)
    if isinstance(value, dict):
        out += value
        inners = value.values()
    else:
        inners = value
    for inner in inners:
        if isinstance(inner, str):
            out.append(inner)
        elif isinstance(inner, _CONTAINERS):
            _gather(inner, out, spans)
    spans[id(value)] = (start, len(out))


def _gather_deep(value: Any, out: list[str], spans: _Spans) -> None:
    """`_gather` without recursion, for a record nested deeper than the stack allows: a
    container is followed on the stack by its end mark, and its children are walked
    before that mark is reached."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _End):
            spans[item.id] = (item.start, len(out))
            continue
        stack.append(_End(id(item), len(out)))
        if isinstance(item, dict):
            out += item
            item = item.values()
        for inner in item:
            if isinstance(inner, str):
                out.append(inner)
            elif isinstance(inner, _CONTAINERS):
                stack.append(inner)


class _End(NamedTuple):
    id: int
    start: int


def _suspects(strings: list[str], blob: str, low: str) -> set[int]:
    """The strings where a word or a token prefix begins, found by their offsets in the
    joined blob (a match spanning two strings just makes an innocent one a suspect)."""
    ends = list(accumulate(map(len, strings)))
    found: set[int] = set()
    for needle, haystack in [(w, low) for w in WORDS] + [(p, blob) for p in TOKEN_NEEDLES]:
        at = haystack.find(needle)
        while at >= 0:
            index = bisect_right(ends, at)
            found.add(index)
            at = haystack.find(needle, max(at + 1, ends[index] if index < len(ends) else at + 1))
    return found


class _Found:
    """What changes in a record: strings to rewrite, keys whose values are secrets, and
    where they are (`marks`, indices in the gathered list, to skip untouched containers)."""

    def __init__(self, strings: list[str], suspects: Iterable[int], *, repair: bool) -> None:
        self.texts: dict[str, str] = {}
        self.fields: set[str] = set()
        marks = []
        for index in suspects:
            value = strings[index]
            changed = redact_text(value)
            if repair and not changed.isascii():
                changed = _SURROGATE.sub("\ufffd", changed)
            if changed != value:
                self.texts[value] = changed
            if is_secret_field(value):
                self.fields.add(value)
            if changed != value or value in self.fields:
                marks.append(index)
        self.marks = sorted(marks)

    def copy(self, value: Any, spans: _Spans, depth: int = 0) -> Any:
        """`value` with the found strings replaced, copying only the containers that hold
        one (a string, or a container none of whose strings is marked, stays as it is)."""
        if isinstance(value, str):
            return self.texts.get(value, value)
        if not isinstance(value, _CONTAINERS) or not self._touches(*spans[id(value)]):
            return value
        if depth > _MAX_DEPTH:
            return REDACTED  # a secret this deep: no mapping rule reads anything there
        texts = self.texts
        if isinstance(value, list):
            return [self._inner(inner, spans, depth) for inner in value]
        out: dict[Any, Any] = {}
        for key, inner in value.items():
            if isinstance(key, str):
                if inner is not None and key in self.fields:
                    out[texts.get(key, key)] = REDACTED
                    continue
                key = texts.get(key, key)
            out[key] = self._inner(inner, spans, depth)
        return out

    def _inner(self, value: Any, spans: _Spans, depth: int) -> Any:
        if isinstance(value, str):
            return self.texts.get(value, value)
        if isinstance(value, _CONTAINERS):
            return self.copy(value, spans, depth + 1)
        return value

    def _touches(self, start: int, end: int) -> bool:
        at = bisect_left(self.marks, start)
        return at < len(self.marks) and self.marks[at] < end


def redact_event(event: E) -> E:
    """`event` itself when none of its values holds a secret (or a lone surrogate), else
    a copy redacted (repaired)."""
    values = event.__dict__
    # Events are flat (strings, enums, times, lists and maps of strings): a quicker test
    # than `redact`'s walk decides first.
    parts: list[Any] = []
    for value in values.values():
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts += value
        elif isinstance(value, dict):
            parts += value
            parts += value.values()
    try:
        blob = "".join(parts)
    except TypeError:
        blob = "token"  # not strings only: let `redact` look at everything
    if (blob.isascii() or _encodable(blob)) and not _may_hold_secret(blob, lowered(blob)):
        return event
    cleaned = redact(values)
    if cleaned is values:
        return event
    return event.model_copy(update={k: v for k, v in cleaned.items() if v is not values[k]})
