"""Does one statement apply to a request? Action, resource, principal, then conditions.

The answer has three values: ``match``, ``no_match``, or ``unknown`` when the action and
resource are covered and no condition is false, but a condition could not be evaluated
(unsupported operator, unreadable policy value). ``problems`` says why.

Principals (resource-based policies only). The caller is described by :class:`Caller`. A
``Principal`` entry grants, from most to least power:

* ``session``: it names the role **session** ARN (``arn:aws:sts::…:assumed-role/R/S``); within
  one account that alone allows, whatever identity, boundary and session policies say;
* ``role``: it names the role ARN (``aws:PrincipalArn``). It stands in for an identity-policy
  Allow but is still cut by the permissions boundary and session policies;
* ``everyone``: ``"*"`` or ``{"AWS": "*"}``. Treated like ``role`` (the conservative reading);
* ``account``: the account id or ``arn:aws:iam::<acct>:root``. That delegates to the
  account's identity policies and grants nothing by itself, but a Deny naming it applies.

``NotPrincipal`` applies to every caller it does not name (as ``everyone``). Principal types
other than ``AWS`` (``Service``, ``Federated``, ``CanonicalUser``) never name a role session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from pipeline.policy.conditions import evaluate_conditions
from pipeline.policy.context import RequestContext
from pipeline.policy.document import Principal, Statement
from pipeline.policy.matching import statement_covers_action, statement_covers_resource

MatchState: TypeAlias = Literal["match", "no_match", "unknown"]
Grant: TypeAlias = Literal["session", "role", "everyone", "account"]
_POWER: dict[Grant, int] = {"account": 0, "everyone": 1, "role": 2, "session": 3}


@dataclass(frozen=True)
class StatementResult:
    statement: Statement
    state: MatchState
    problems: tuple[str, ...] = ()
    grant: Grant | None = None  # resource-based statements: how the principal was named


@dataclass(frozen=True)
class Caller:
    """Who is calling, for Principal matching in resource-based policies."""

    principal_arn: str | None = None
    session_arn: str | None = None
    account: str | None = None

    @classmethod
    def from_context(cls, context: RequestContext, session_arn: str | None) -> Caller:
        def single(key: str) -> str | None:
            values = context.values_of(key)
            return values[0] if values else None

        return cls(
            principal_arn=single("aws:PrincipalArn"),
            session_arn=session_arn,
            account=single("aws:PrincipalAccount"),
        )


def evaluate_statement(
    statement: Statement,
    *,
    action: str,
    resource: str,
    context: RequestContext,
    variables: bool,
    caller: Caller | None = None,
) -> StatementResult:
    """Evaluate ``statement``; with a ``caller``, it is a resource-based statement."""
    grant: Grant | None = None
    if caller is not None:
        grant = principal_grant(statement, caller)
        if grant is None:
            return StatementResult(statement, "no_match")
    if not statement_covers_action(statement, action):
        return StatementResult(statement, "no_match", grant=grant)
    if not statement_covers_resource(statement, resource, context, variables=variables):
        return StatementResult(statement, "no_match", grant=grant)
    outcome = evaluate_conditions(statement.conditions, context, variables=variables)
    if outcome.truth == "false":
        return StatementResult(statement, "no_match", grant=grant)
    if outcome.truth == "unknown":
        return StatementResult(statement, "unknown", outcome.problems, grant=grant)
    return StatementResult(statement, "match", grant=grant)


def principal_grant(statement: Statement, caller: Caller) -> Grant | None:
    """How ``statement``'s Principal/NotPrincipal names ``caller``; ``None`` if it does not."""
    if statement.principal is not None:
        return _named(statement.principal, caller)
    if statement.not_principal is not None:
        return None if _named(statement.not_principal, caller) else "everyone"
    return None


def _named(principal: Principal, caller: Caller) -> Grant | None:
    if principal.wildcard:
        return "everyone"
    best: Grant | None = None
    for value in principal.values_of("AWS"):
        grant = _grant_for(value, caller)
        if grant is not None and (best is None or _POWER[grant] > _POWER[best]):
            best = grant
    return best


def _grant_for(value: str, caller: Caller) -> Grant | None:
    if value == "*":
        return "everyone"
    if caller.session_arn is not None and value == caller.session_arn:
        return "session"
    if caller.principal_arn is not None and value == caller.principal_arn:
        return "role"
    if caller.account is not None and (
        value == caller.account
        or (value.startswith("arn:") and value.endswith(f":iam::{caller.account}:root"))
    ):
        return "account"
    return None
