"""Does a statement's Action/NotAction and Resource/NotResource cover a request?

Choices, after the IAM User Guide (Action, Resource, NotAction, NotResource elements):

* **Actions** compare case-insensitively (service prefix and action name alike). ``*`` matches
  any run of characters, ``?`` exactly one, anywhere in the value (``iam:*AccessKey*``).
* **Resources** compare case-sensitively as whole strings: ``*`` matches any run of characters
  *including* ``/`` and ``:``, ``?`` exactly one character. The current documentation lets a
  ``*`` extend past ``:``; matching the whole ARN as one string is the simple rule that agrees
  with it (``arn:aws:s3:::bucket/*/test/*`` matches ``arn:aws:s3:::bucket/1/2/test/x``).
* **ArnLike/ArnEquals** (a condition operator, not the Resource element) are stricter, as
  documented: each of the six colon-delimited ARN components is matched on its own, so a
  wildcard in the first five components never matches a ``:``. :func:`arn_match` does that.
* **Policy variables** in Resource entries: an entry whose variable cannot be resolved matches
  nothing. In NotResource such an entry makes the whole statement not apply. Either way an
  unresolved variable can only make a statement cover *less*, never more.
* A statement without Resource/NotResource (only allowed with a Principal, in resource-based
  policies) covers the resource the policy is attached to, so any resource.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.policy.context import RequestContext
from pipeline.policy.document import Statement
from pipeline.policy.variables import Pattern, render, wildcard_pattern

_ARN_PREFIX_COLONS = 5


@lru_cache(maxsize=8192)
def _compile(pattern: Pattern, ignore_case: bool, arn_segments: bool) -> re.Pattern[str]:
    parts: list[str] = []
    colons = 0
    for piece in pattern:
        if not piece.wildcard:
            parts.append(re.escape(piece.text))
            colons += piece.text.count(":")
        elif arn_segments and colons < _ARN_PREFIX_COLONS:
            parts.append("[^:]*" if piece.text == "*" else "[^:]")
        else:
            parts.append(".*" if piece.text == "*" else ".")
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(parts), flags)


def glob_match(pattern: Pattern, value: str, *, ignore_case: bool = False) -> bool:
    """Whole-string wildcard match: ``*`` any run (incl. ``/`` and ``:``), ``?`` one character."""
    return _compile(pattern, ignore_case, False).fullmatch(value) is not None


def arn_match(pattern: Pattern, value: str) -> bool:
    """ArnLike matching: wildcards stay inside their colon-delimited component.

    The sixth component (the resource part) may itself contain ``:``, and wildcards there
    match them. A pattern with fewer than five ``:`` therefore cannot match a full ARN
    through a wildcard.
    """
    return _compile(pattern, False, True).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Whether one Action value (``s3:Get*``) covers ``action`` (``s3:GetObject``)."""
    return glob_match(wildcard_pattern(pattern), action, ignore_case=True)


def statement_covers_action(statement: Statement, action: str) -> bool:
    """Action: any value matches. NotAction: no value matches."""
    if statement.action is not None:
        return any(action_matches(p, action) for p in statement.action)
    assert statement.not_action is not None
    return not any(action_matches(p, action) for p in statement.not_action)


def statement_covers_resource(
    statement: Statement, resource: str, context: RequestContext, *, variables: bool
) -> bool:
    """Resource: any entry matches. NotResource: no entry matches (and all entries resolve)."""
    if statement.resource is not None:
        for entry in statement.resource:
            pattern = render(entry, context, variables=variables)
            if pattern is not None and glob_match(pattern, resource):
                return True
        return False
    if statement.not_resource is not None:
        for entry in statement.not_resource:
            pattern = render(entry, context, variables=variables)
            if pattern is None or glob_match(pattern, resource):
                return False
        return True
    return True
