"""Evaluate a batch of requests given as JSON Lines, one decision per case.

Each non-blank line is a JSON object::

    {"action": "s3:GetObject", "resource": "arn:aws:s3:::b/k",
     "identity_policies": [<policy>, ...], "session_policies": [<policy>, ...],
     "boundary": <policy> | null, "context": {"aws:SourceIp": "203.0.113.9", ...} | null,
     "resource_policy": <policy> | null, "session_arn": "arn:aws:sts::…" | null}

``action``, ``resource`` and ``identity_policies`` are required; the rest are optional and
other keys are ignored. A ``<policy>`` is an IAM policy document (a JSON object, or a string
holding one), or ``{"name": "...", "document": <document>}`` to name it in reasons. Context
values are strings or lists of strings; JSON booleans and numbers are accepted and written as
IAM writes them (``true``, ``10``).

For each case one ``{"effect": ..., "reason": ...}`` is produced, in input order. A line that
cannot be evaluated produces ``{"effect": "error", "reason": "line N: ..."}`` and the batch
goes on. Blank lines are skipped (they are not cases); ``N`` counts every input line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping

from pipeline.policy.document import PolicyLike, scalar_text
from pipeline.policy.errors import PolicyError, PolicyRequestError
from pipeline.policy.evaluate import evaluate


def evaluate_cases(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """Yield ``{"effect", "reason"}`` for every non-blank line of ``lines``."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield _evaluate_line(line)
        except (PolicyError, ValueError, RecursionError) as exc:
            yield {"effect": "error", "reason": f"line {number}: {exc}"}


def _evaluate_line(line: str) -> dict[str, str]:
    try:
        case = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PolicyRequestError(f"not valid JSON: {exc}") from exc
    if not isinstance(case, dict):
        raise PolicyRequestError("a case must be a JSON object")
    decision = evaluate(
        action=_required_str(case, "action"),
        resource=_required_str(case, "resource"),
        identity_policies=_policies(case, "identity_policies", required=True),
        session_policies=_policies(case, "session_policies", required=False),
        boundary=_optional_policy(case.get("boundary"), "boundary"),
        context=_context(case.get("context")),
        resource_policy=_optional_policy(case.get("resource_policy"), "resource_policy"),
        session_arn=_optional_str(case.get("session_arn"), "session_arn"),
    )
    return {"effect": decision.effect, "reason": decision.reason}


def _required_str(case: Mapping[str, object], key: str) -> str:
    value = case.get(key)
    if not isinstance(value, str):
        raise PolicyRequestError(f"{key!r} is required and must be a string")
    return value


def _optional_str(value: object, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise PolicyRequestError(f"{key!r} must be a string or null")


def _policies(case: Mapping[str, object], key: str, *, required: bool) -> list[PolicyLike]:
    value = case.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise PolicyRequestError(f"{key!r} must be a list of policies")
    return [_policy(item, f"{key}[{i}]") for i, item in enumerate(value)]


def _optional_policy(value: object, key: str) -> PolicyLike | None:
    return None if value is None else _policy(value, key)


def _policy(value: object, where: str) -> PolicyLike:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "document" in value and "Statement" not in value:
            name, document = value.get("name"), value["document"]
            if not isinstance(name, str) or not isinstance(document, str | dict):
                raise PolicyRequestError(
                    f"{where}: a named policy needs a string 'name' and a 'document'"
                )
            return (name, document)
        return value
    raise PolicyRequestError(f"{where}: a policy must be a JSON object or a string")


def _context(value: object) -> dict[str, str | list[str]] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PolicyRequestError("'context' must be a JSON object or null")
    return {str(key): _context_value(key, item) for key, item in value.items()}


def _context_value(key: str, value: object) -> str | list[str]:
    if isinstance(value, list):
        return [_scalar(key, item) for item in value]
    return _scalar(key, value)


def _scalar(key: str, value: object) -> str:
    text = scalar_text(value)
    if text is not None:
        return text
    raise PolicyRequestError(
        f"context value of {key!r} must be a string, number, boolean or a list of them"
    )
