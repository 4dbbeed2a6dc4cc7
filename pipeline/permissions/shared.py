"""One question asked of many sessions at one moment, decided once per distinct input.

Who-could asks every session active at T the same question. Sessions of one role mostly
carry the same policies, and with the policies fixed the evaluator reads the request
context only through the conditions' outcomes (and through policy variables in resource
entries). Sessions that agree on the policies and on the outcome of every condition in
them get the same decision, reason included: `SharedDecisions` keys its cache on exactly
that, so sharing never changes an answer (the tests compare it with deciding each session
alone). A revoked role's sessions, for example, fall in two groups: issued before the
revocation or after. Variables in a resource entry turn sharing off for those sessions.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import duckdb

from pipeline.permissions.in_force import HistoryAt, PoliciesInForce, PolicyInForce
from pipeline.permissions.session import (
    INLINE_SESSION_POLICY,
    SessionPermissions,
    decide,
    evaluate_principal,
    principal_of,
    request_context,
    session_permissions,
    session_policies,
    within_lifetime,
)
from pipeline.policy import Decision, PolicyDocumentError, load_policy
from pipeline.policy.conditions import evaluate_condition
from pipeline.policy.document import Condition
from pipeline.policy.variables import has_variables
from pipeline.sessions import SessionView

_EVERY_KEY = None  # variables in a resource entry: the decision may read any key

PolicyCondition = tuple[Condition, bool]  # a condition and whether its policy substitutes variables
# The conditions to test, and the context keys they read (None: they may read any key).
FoundConditions = tuple[tuple[PolicyCondition, ...], frozenset[str] | None]
_CacheKey = tuple[str, tuple[PolicyInForce, ...], tuple[object, ...]]


class SharedDecisions:
    """Decide `action` on `resource` at `snapshot.at` for many sessions, sharing decisions."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, snapshot: HistoryAt, action: str, resource: str
    ) -> None:
        self.con, self.snapshot = con, snapshot
        self.action, self.resource = action, resource
        self._decided: dict[_CacheKey, Decision] = {}
        self._conditions: dict[tuple[str, tuple[PolicyInForce, ...]], FoundConditions | None] = {}
        self.evaluated = 0  # how many decisions the evaluator made (the rest were shared)

    def decide(self, session: SessionView, issued_at: datetime) -> Decision:
        at = self.snapshot.at
        principal = principal_of(session)
        if principal is None:
            self.evaluated += 1
            return self._alone(session, issued_at)
        in_force = self.snapshot.policies_in_force(principal)
        scoped = session_policies(self.snapshot, session)
        if (principal, scoped) not in self._conditions:
            self._conditions[(principal, scoped)] = conditions_of(in_force, scoped)
        found = self._conditions[(principal, scoped)]
        if found is _EVERY_KEY:
            self.evaluated += 1
            return self._alone(session, issued_at)
        conditions, keys = found
        context = (
            request_context(session, principal, in_force, at, issued_at, only=keys)
            if conditions
            else None
        )
        outcomes = (
            tuple(evaluate_condition(c, context, variables=v) for c, v in conditions)
            if context is not None
            else ()
        )
        key = (principal, scoped, outcomes)
        decision = self._decided.get(key)
        if decision is None:
            self.evaluated += 1
            context = request_context(session, principal, in_force, at, issued_at)
            decision = evaluate_principal(
                principal, in_force, scoped, context, action=self.action, resource=self.resource
            )
            self._decided[key] = decision
        return within_lifetime(session, at, decision)

    def _alone(self, session: SessionView, issued_at: datetime) -> Decision:
        perms: SessionPermissions = session_permissions(
            self.con, session, self.snapshot.at, issued_at=issued_at, history_at=self.snapshot
        )
        return decide(perms, self.action, self.resource, checked=True)


def conditions_of(
    in_force: PoliciesInForce, scoped: tuple[PolicyInForce, ...]
) -> FoundConditions | None:
    """Every condition the evaluator may test for these policies, and the keys they read
    (None: a resource entry's variables may read any key)."""
    every = (*in_force.identity, *scoped, *((in_force.boundary,) if in_force.boundary else ()))
    found: list[PolicyCondition] = []
    for x in every:
        if x.document is None:
            continue  # an unknown document is never evaluated
        label = "" if x.name == INLINE_SESSION_POLICY else x.label
        conditions = _policy_conditions(label, x.document)
        if conditions is _EVERY_KEY:
            return _EVERY_KEY
        found.extend(conditions)
    unique = tuple(dict.fromkeys(found))
    variables = any(v and any(has_variables(t) for t in (c.key, *c.values)) for c, v in unique)
    keys = None if variables else frozenset(c.key.lower() for c, _ in unique)
    return unique, keys


@lru_cache(maxsize=4096)
def _policy_conditions(label: str, document: str) -> tuple[PolicyCondition, ...] | None:
    try:
        policy = load_policy((label, document)) if label else load_policy(document)
    except PolicyDocumentError:
        return ()  # the evaluator reports it the same way for every session
    variables = policy.variables_enabled
    found: list[PolicyCondition] = []
    for statement in policy.statements:
        entries = (*(statement.resource or ()), *(statement.not_resource or ()))
        if variables and any(has_variables(e) for e in entries):
            return _EVERY_KEY
        found.extend((c, variables) for c in statement.conditions)
    return tuple(found)
