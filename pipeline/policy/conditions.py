"""Evaluate a statement's Condition element against a request context.

Rules (IAM User Guide: Condition operators, multivalued context keys):

* Several operators, and several keys under one operator, are ANDed. Several policy values
  for one key are ORed; a negated operator (``StringNotEquals``...) with several values means
  "matches none of them".
* Condition keys are case-insensitive; operator names are read without regard to case too.
* A **missing key** (absent, or present with no value) makes a positive operator false and a
  negated operator true, except: ``...IfExists`` is true, ``ForAllValues:`` is true,
  ``ForAnyValue:`` is false, and ``Null`` tests presence itself.
* ``ForAllValues:Op`` is true when *every* request value satisfies ``Op``;
  ``ForAnyValue:Op`` when *at least one* does. For a negated ``Op``, "satisfies" means
  "matches none of the policy values" (``ForAllValues:StringNotLike`` is true when no request
  value matches any pattern).
* Without a qualifier, a multivalued request value matches a positive operator when any of
  its values matches, and a negated operator when none does.
* Policy variables are substituted only for string, ARN and Bool operators, and only in
  2012-10-17 documents. A value whose variable cannot be resolved matches nothing; under a
  negated operator it makes the condition false (the statement does not apply). So an
  unresolved variable only ever makes a statement apply to fewer requests.
* **Unsupported operators never match silently.** A condition that uses an operator this
  module does not know (or a policy value the operator cannot read, such as
  ``NumericEquals: "ten"``) is *unknown*. A block with any false condition is false; else a
  block with an unknown condition is unknown, and the outcome names each problem. What an
  unknown block means for Allow and Deny is decided in ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, TypeAlias

from pipeline.policy.context import RequestContext
from pipeline.policy.document import Condition
from pipeline.policy.operators import (
    InvalidOperand,
    Operator,
    Predicate,
    epoch_microseconds,
    find_operator,
)
from pipeline.policy.variables import Pattern, render

Truth: TypeAlias = Literal["true", "false", "unknown"]

_QUALIFIERS = {"forallvalues": "ForAllValues", "foranyvalue": "ForAnyValue"}
_IF_EXISTS = "ifexists"


@dataclass(frozen=True)
class ConditionOutcome:
    """The truth of a condition block, with the reason for each unknown part."""

    truth: Truth
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class _ParsedOperator:
    qualifier: str | None  # "ForAllValues" | "ForAnyValue" | None
    base: str
    if_exists: bool


def evaluate_conditions(
    conditions: Sequence[Condition], context: RequestContext, *, variables: bool
) -> ConditionOutcome:
    """AND of every condition: false wins over unknown, unknown over true."""
    problems: list[str] = []
    for condition in conditions:
        truth, problem = evaluate_condition(condition, context, variables=variables)
        if truth == "false":
            return ConditionOutcome("false")
        if problem is not None:
            problems.append(problem)
    return ConditionOutcome("unknown", tuple(problems)) if problems else ConditionOutcome("true")


def evaluate_condition(
    condition: Condition, context: RequestContext, *, variables: bool
) -> tuple[Truth, str | None]:
    """The truth of one ``operator: {key: values}`` entry, and the problem when unknown."""
    parsed = _parse_operator(condition.operator)
    unsupported = f"unsupported condition operator '{condition.operator}'"
    if parsed is None:
        return "unknown", unsupported
    request_values = context.values_of(condition.key)
    if parsed.base.lower() == "null":
        if parsed.qualifier is not None or parsed.if_exists:
            return "unknown", unsupported
        return _null(condition, request_values)
    spec = find_operator(parsed.base)
    if spec is None:
        return "unknown", unsupported
    if request_values is None:
        return _missing_key(parsed, spec), None
    rendered = [
        render(value, context, variables=variables and spec.variables) for value in condition.values
    ]
    resolved = [pattern for pattern in rendered if pattern is not None]
    if spec.negated and len(resolved) < len(rendered):
        return "false", None
    built = _build(spec, tuple(resolved))
    if isinstance(built, InvalidOperand):
        return "unknown", f"invalid value for condition operator '{condition.operator}': {built}"
    return _truth(_apply(parsed.qualifier, spec, built, request_values)), None


def time_thresholds(condition: Condition) -> tuple[int, ...] | None:
    """The instants (epoch microseconds) where the condition's truth over one time value
    can change, or None when it is not settled by the value's place among instants.

    A `Date...` operator compares the request's time with each policy value by order only:
    two times on the same side of every threshold (and equal to the same ones) get the same
    truth, whatever the qualifier or `IfExists`. `Null` tests presence alone: no threshold.
    A policy value that is not a time makes the whole condition unknown for every time
    alike, so it is no threshold. Who-could decides a session per class of issue times.
    """
    parsed = _parse_operator(condition.operator)
    if parsed is None:
        return ()  # unknown for every value alike
    base = parsed.base.lower()
    if base == "null":
        return ()
    if not base.startswith("date") or find_operator(base) is None:
        return None
    found: set[int] = set()
    for value in condition.values:
        try:
            found.add(epoch_microseconds(value))
        except ValueError:
            continue
    return tuple(sorted(found))


# A policy's condition values, parsed once per distinct operator and values rather than once
# per session asked about (who-could asks about every active session). Bounded: cleared
# when full, so a stream of distinct rendered values cannot grow it without end.
_BUILT: dict[tuple[str, tuple[Pattern, ...]], Predicate | InvalidOperand] = {}
_BUILT_MAX = 4096


def _build(spec: Operator, values: tuple[Pattern, ...]) -> Predicate | InvalidOperand:
    key = (spec.name, values)
    built = _BUILT.get(key)
    if built is None:
        try:
            built = spec.build(values)
        except InvalidOperand as exc:
            built = exc
        if len(_BUILT) >= _BUILT_MAX:
            _BUILT.clear()
        _BUILT[key] = built
    return built


@lru_cache(maxsize=512)
def _parse_operator(name: str) -> _ParsedOperator | None:
    qualifier: str | None = None
    base = name
    if ":" in name:
        prefix, _, base = name.partition(":")
        qualifier = _QUALIFIERS.get(prefix.lower())
        if qualifier is None:
            return None
    if_exists = base.lower().endswith(_IF_EXISTS) and len(base) > len(_IF_EXISTS)
    if if_exists:
        base = base[: -len(_IF_EXISTS)]
    return _ParsedOperator(qualifier=qualifier, base=base, if_exists=if_exists)


def _missing_key(parsed: _ParsedOperator, spec: Operator) -> Truth:
    if parsed.if_exists or parsed.qualifier == "ForAllValues":
        return "true"
    if parsed.qualifier == "ForAnyValue":
        return "false"
    return _truth(spec.negated)


def _apply(
    qualifier: str | None,
    spec: Operator,
    matches_any: Predicate,
    request_values: tuple[str, ...],
) -> bool:
    def satisfies(value: str) -> bool:
        return matches_any(value) != spec.negated

    if qualifier == "ForAllValues":
        return all(satisfies(v) for v in request_values)
    if qualifier == "ForAnyValue":
        return any(satisfies(v) for v in request_values)
    return any(matches_any(v) for v in request_values) != spec.negated


def _null(condition: Condition, request_values: tuple[str, ...] | None) -> tuple[Truth, str | None]:
    absent = request_values is None
    wanted: list[bool] = []
    for value in condition.values:
        folded = value.strip().lower()
        if folded not in ("true", "false"):
            return "unknown", (
                f"invalid value for condition operator '{condition.operator}': "
                f"expected 'true' or 'false', got {value!r}"
            )
        wanted.append(folded == "true")
    return _truth(any(w == absent for w in wanted)), None


def _truth(value: bool) -> Truth:
    return "true" if value else "false"
