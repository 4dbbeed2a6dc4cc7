"""Could this principal do ``action`` on ``resource``? The IAM decision for one account.

Order (IAM User Guide, "Policy evaluation logic"; ``shared/IAM_REFERENCE.md`` section 4.1):

1. An explicit Deny in any policy given (identity, session, boundary, resource) decides.
2. A same-account resource-policy Allow naming the role *session* ARN allows on its own.
3. An identity policy must Allow (or a resource-policy Allow naming the role or ``*``).
4. The permissions boundary, when given, must Allow.
5. Session policies, when any are given, must Allow (any one of them suffices: inline and
   managed session policies together form the session's policy set).

Statements that cannot be fully evaluated (an unsupported condition operator, a policy value
the operator cannot read) are handled conservatively, so that an ``allow`` answer can be
trusted: such an **Allow is not counted** (and the reason says so when it matters), and such a
**Deny is counted as matching**, giving ``explicit_deny`` with a reason naming the operator.

SCPs, RCPs and cross-account evaluation are out of scope: the caller is assumed to be in the
account that owns the resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pipeline.policy.context import ContextInput, RequestContext
from pipeline.policy.decision import Decision, MatchedStatement, PolicyKind, PolicySource
from pipeline.policy.document import PolicyLike, load_policy
from pipeline.policy.errors import PolicyRequestError
from pipeline.policy.statements import Caller, StatementResult, evaluate_statement

_Result = tuple[PolicySource, StatementResult]


def evaluate(
    *,
    action: str,
    resource: str,
    identity_policies: Sequence[PolicyLike],
    session_policies: Sequence[PolicyLike] = (),
    boundary: PolicyLike | None = None,
    context: ContextInput | RequestContext | None = None,
    resource_policy: PolicyLike | None = None,
    session_arn: str | None = None,
) -> Decision:
    """Decide whether ``action`` on ``resource`` is allowed, and say which statement decided.

    ``session_arn`` (``arn:aws:sts::<acct>:assumed-role/<role>/<session>``) is only used to
    recognise a resource-policy Principal that names the session itself.
    Raises ``PolicyDocumentError`` for a malformed policy, ``PolicyContextError`` for a
    malformed context and ``PolicyRequestError`` for a malformed action or resource.
    """
    _check_request(action, resource)
    request = RequestContext.of(context)
    sources = _sources(identity_policies, session_policies, boundary, resource_policy)
    caller = Caller.from_context(request, session_arn)
    results: list[_Result] = [
        (
            source,
            evaluate_statement(
                statement,
                action=action,
                resource=resource,
                context=request,
                variables=source.policy.variables_enabled,
                caller=caller if source.kind == "resource" else None,
            ),
        )
        for source in sources
        for statement in source.policy.statements
    ]
    return _decide(action, resource, sources, results)


def _check_request(action: str, resource: str) -> None:
    service, _, name = action.partition(":")
    if not service or not name or any(c in action for c in "*? "):
        raise PolicyRequestError(
            f"action must look like 'service:ActionName' without wildcards, got {action!r}"
        )
    if not resource:
        raise PolicyRequestError("resource must be a non-empty ARN (or '*')")


def _policy_list(policies: Sequence[PolicyLike], what: str) -> Sequence[PolicyLike]:
    if isinstance(policies, str | Mapping):
        raise PolicyRequestError(f"{what} must be a sequence of policies, not a single policy")
    return policies


def _sources(
    identity: Sequence[PolicyLike],
    session: Sequence[PolicyLike],
    boundary: PolicyLike | None,
    resource_policy: PolicyLike | None,
) -> list[PolicySource]:
    sources = [
        PolicySource("identity", n, load_policy(p))
        for n, p in enumerate(_policy_list(identity, "identity_policies"), 1)
    ]
    sources += [
        PolicySource("session", n, load_policy(p))
        for n, p in enumerate(_policy_list(session, "session_policies"), 1)
    ]
    if boundary is not None:
        sources.append(PolicySource("boundary", 1, load_policy(boundary)))
    if resource_policy is not None:
        sources.append(PolicySource("resource", 1, load_policy(resource_policy)))
    return sources


def _decide(
    action: str, resource: str, sources: list[PolicySource], results: list[_Result]
) -> Decision:
    matched = tuple(
        MatchedStatement.of(source, r.statement, assumed=r.state == "unknown", problems=r.problems)
        for source, r in results
        if r.state == "match" or (r.state == "unknown" and r.statement.effect == "Deny")
    )
    denies = [(s, r) for s, r in results if r.statement.effect == "Deny" and r.state != "no_match"]
    for source, r in denies:
        if r.state == "match":
            return Decision("explicit_deny", f"explicit deny by {_name(source, r)}", matched)
    if denies:
        source, r = denies[0]
        return Decision(
            "explicit_deny",
            f"explicit deny assumed: {_name(source, r)} could not be evaluated "
            f"({'; '.join(r.problems)}); a Deny that cannot be evaluated counts as matching",
            matched,
        )

    allows = [(s, r) for s, r in results if r.statement.effect == "Allow" and r.state == "match"]
    session_grant = _first(allows, "resource", grants=("session",))
    if session_grant is not None:
        reason = f"allowed by {_name(*session_grant)}, which names the role session itself"
        return Decision("allow", reason, matched)

    request = f"{action} on {resource}"
    skipped = [(s, r) for s, r in results if r.statement.effect == "Allow" and r.state == "unknown"]
    granted = _first(allows, "identity") or _first(allows, "resource", grants=("role", "everyone"))
    if granted is None:
        has_resource_policy = any(s.kind == "resource" for s in sources)
        who = "no identity or resource policy" if has_resource_policy else "no identity policy"
        note = _skipped_note(skipped, ("identity", "resource"))
        return Decision("implicit_deny", f"implicit deny: {who} allows {request}{note}", matched)
    reason = f"allowed by {_name(*granted)}"

    boundary = next((s for s in sources if s.kind == "boundary"), None)
    if boundary is not None:
        permit = _first(allows, "boundary")
        if permit is None:
            note = _skipped_note(skipped, ("boundary",))
            text = f"implicit deny: {boundary.label} does not allow {request}{note}"
            return Decision("implicit_deny", text, matched)
        reason += f"; within {_name(*permit)}"

    sessions = [s for s in sources if s.kind == "session"]
    if sessions:
        permit = _first(allows, "session")
        if permit is None:
            note = _skipped_note(skipped, ("session",))
            text = f"implicit deny: {_session_subject(sessions)} {request}{note}"
            return Decision("implicit_deny", text, matched)
        reason += f"; within {_name(*permit)}"
    return Decision("allow", reason, matched)


def _first(
    results: Iterable[_Result], kind: PolicyKind, *, grants: tuple[str, ...] | None = None
) -> _Result | None:
    for source, r in results:
        if source.kind == kind and (grants is None or r.grant in grants):
            return source, r
    return None


def _name(source: PolicySource, result: StatementResult) -> str:
    return f"{result.statement.label} of {source.label}"


def _session_subject(sessions: list[PolicySource]) -> str:
    if len(sessions) > 1:
        return "no session policy allows"
    only = sessions[0]
    if only.policy.name:
        return f"{only.label} does not allow"
    return "session policy does not allow"


def _skipped_note(skipped: list[_Result], kinds: tuple[PolicyKind, ...]) -> str:
    relevant = [(s, r) for s, r in skipped if s.kind in kinds]
    if not relevant:
        return ""
    parts = [f"{_name(s, r)}: {'; '.join(r.problems)}" for s, r in relevant]
    return f" (not counted because it could not be evaluated: {' | '.join(parts)})"
