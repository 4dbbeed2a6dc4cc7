"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/team}``, ``${key, 'default'}``.

A policy value is rendered into a :data:`Pattern`: a tuple of :class:`Piece` objects, each
either literal text or one wildcard character (``*`` or ``?``). Keeping the two apart lets
``${*}``, ``${?}`` and ``${$}`` stand for a literal ``*``, ``?`` and ``$``, and keeps a
substituted value literal: a user name containing ``*`` never becomes a wildcard.

Rules (IAM User Guide, "Policy variables"):

* Variables are only substituted when the document's Version is 2012-10-17; otherwise
  ``${...}`` is plain text (its ``*``/``?`` are still wildcards where wildcards apply).
* Any single-valued context key can be a variable; key names are case-insensitive.
* ``${key, 'default'}`` uses ``default`` when the key is absent (or multivalued); a quote in a
  default is written ``''``. Substitution is one round only: a default is literal text.
* A variable that cannot be resolved and has no default makes :func:`render` return ``None``;
  the caller decides what that means (see ``matching`` and ``conditions``).
* Text that looks like ``${`` but is not a well-formed variable is kept literally.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

from pipeline.policy.context import RequestContext


@dataclass(frozen=True)
class Piece:
    """Literal text, or (``wildcard=True``) a single ``*`` or ``?`` wildcard."""

    text: str
    wildcard: bool = False


Pattern: TypeAlias = tuple[Piece, ...]


@dataclass(frozen=True)
class _Text:
    text: str  # as written: its * and ? are wildcards


@dataclass(frozen=True)
class _Escape:
    char: str  # from ${*}, ${?}, ${$}: always literal


@dataclass(frozen=True)
class _Variable:
    key: str
    default: str | None


_Token: TypeAlias = _Text | _Escape | _Variable

_VARIABLE = re.compile(
    r"\$\{\s*(?:(?P<special>[*?$])"
    r"|(?P<key>[^\s,'{}$]+)(?:\s*,\s*'(?P<default>(?:[^']|'')*)')?)\s*\}"
)


@lru_cache(maxsize=4096)
def _tokenize(text: str, variables: bool) -> tuple[_Token, ...]:
    if not variables or "${" not in text:
        return (_Text(text),)
    tokens: list[_Token] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        if match.start() > position:
            tokens.append(_Text(text[position : match.start()]))
        special, key = match.group("special"), match.group("key")
        if special is not None:
            tokens.append(_Escape(special))
        else:
            default = match.group("default")
            tokens.append(_Variable(key, None if default is None else default.replace("''", "'")))
        position = match.end()
    if position < len(text):
        tokens.append(_Text(text[position:]))
    return tuple(tokens)


def has_variables(text: str) -> bool:
    """Whether ``text`` holds at least one well-formed ``${...}`` variable or escape."""
    return _VARIABLE.search(text) is not None


def render(text: str, context: RequestContext, *, variables: bool) -> Pattern | None:
    """Substitute the variables of ``text``; ``None`` if one is unresolved and has no default."""
    pieces: list[Piece] = []
    for token in _tokenize(text, variables):
        if isinstance(token, _Text):
            pieces.extend(_split_wildcards(token.text))
        elif isinstance(token, _Escape):
            pieces.append(Piece(token.char))
        else:
            value = _lookup(token, context)
            if value is None:
                return None
            pieces.append(Piece(value))
    return _merge(pieces)


@lru_cache(maxsize=8192)
def wildcard_pattern(text: str) -> Pattern:
    """``text`` with its ``*`` and ``?`` as wildcards and no variables (for Action values)."""
    return _merge(_split_wildcards(text))


def pattern_text(pattern: Pattern) -> str:
    """The pattern as plain text, wildcards written as their characters."""
    return "".join(piece.text for piece in pattern)


def _lookup(variable: _Variable, context: RequestContext) -> str | None:
    values = context.values_of(variable.key)
    if values is not None and len(values) == 1:
        return values[0]
    return variable.default


@lru_cache(maxsize=8192)  # the same few patterns, evaluated for every session
def _split_wildcards(text: str) -> tuple[Piece, ...]:
    pieces: list[Piece] = []
    literal: list[str] = []
    for char in text:
        if char in "*?":
            if literal:
                pieces.append(Piece("".join(literal)))
                literal = []
            pieces.append(Piece(char, wildcard=True))
        else:
            literal.append(char)
    if literal:
        pieces.append(Piece("".join(literal)))
    return tuple(pieces)


def _merge(pieces: Sequence[Piece]) -> Pattern:
    merged: list[Piece] = []
    for piece in pieces:
        if merged and not piece.wildcard and not merged[-1].wildcard:
            merged[-1] = Piece(merged[-1].text + piece.text)
        elif piece.text or piece.wildcard:
            merged.append(piece)
    return tuple(merged)
