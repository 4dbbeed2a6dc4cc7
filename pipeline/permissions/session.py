"""A session's permissions at a moment: the request context it implies and the policies
that bound it, and the decision for one action on one resource.

Which policies apply: a role session gets its role's policies in force at T; a console
sign-in or a GetSessionToken / GetFederationToken session gets the IAM user's (and its
groups'). The session policy of the request (inline and `PolicyArns`) narrows; the
permissions boundary bounds. Revocation works twice over, as in AWS: the
`AWSRevokeOlderSessions` inline policy denies through `aws:TokenIssueTime`, and a session
that is no longer active at T (revoked, exited, expired) can do nothing at T.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import duckdb

from pipeline.permissions.catalogue import APPROXIMATION_NOTE
from pipeline.permissions.in_force import (
    HistoryAt,
    PoliciesInForce,
    PolicyInForce,
)
from pipeline.policy import (
    Decision,
    Policy,
    PolicyContextError,
    PolicyDocumentError,
    RequestContext,
    evaluate,
    load_policy,
    session_context,
)
from pipeline.sessions import SessionView
from pipeline.timeutil import iso, naive, to_utc

INLINE_SESSION_POLICY = "session policy"
USER_SESSION_VIAS = frozenset({"CONSOLE_SIGN_IN", "GET_SESSION_TOKEN", "GET_FEDERATION_TOKEN"})


@dataclass(frozen=True)
class SessionPermissions:
    """What bounds one session at `at`, ready to be asked about actions."""

    session: SessionView
    at: datetime
    principal_arn: str | None  # the role (or IAM user) whose policies apply
    policies: PoliciesInForce
    session_policies: tuple[PolicyInForce, ...]
    issued_at: datetime | None
    context: RequestContext | None  # None when the principal is unknown

    @property
    def active(self) -> bool:
        return self.session.started_at <= self.at < self.session.ends_at


def principal_of(session: SessionView) -> str | None:
    """The role or IAM user whose policies a session carries."""
    return principal_from(session.role_arn, session.via, session.principal_arn, session.session_arn)


def principal_from(
    role_arn: str | None, via: str | None, caller_arn: str | None, session_arn: str | None
) -> str | None:
    """`principal_of` over a session's columns (who-could reads rows, not views)."""
    if role_arn:
        return role_arn
    if via in USER_SESSION_VIAS:
        for arn in (caller_arn, session_arn):
            if arn and ":user/" in arn:
                return arn
    return None


def credential_issued_at(
    con: duckdb.DuckDBPyConnection, session: SessionView, at: datetime
) -> datetime:
    """When the credential in use at `at` was issued (`aws:TokenIssueTime`)."""
    row = con.execute(
        "SELECT max(issued_at) FROM credentials WHERE session_id = ? AND issued_at <= ?",
        [session.session_id, naive(at)],
    ).fetchone()
    return to_utc(row[0]) if row is not None and row[0] is not None else session.started_at


def session_permissions(
    con: duckdb.DuckDBPyConnection,
    session: SessionView,
    at: datetime,
    *,
    issued_at: datetime | None = None,
    history_at: HistoryAt | None = None,
) -> SessionPermissions:
    """Gather a session's policies and request context at `at` (pass `history_at` when
    many sessions are evaluated at the same moment: the history is then read once)."""
    principal = principal_of(session)
    issued = issued_at or credential_issued_at(con, session, at)
    if principal is None:
        return SessionPermissions(session, at, None, PoliciesInForce("?", at), (), issued, None)
    snapshot = history_at or HistoryAt(con, at)
    in_force = snapshot.policies_in_force(principal)
    context = request_context(session, principal, in_force, at, issued)
    return SessionPermissions(
        session, at, principal, in_force, session_policies(snapshot, session), issued, context
    )


def session_policies(snapshot: HistoryAt, session: SessionView) -> tuple[PolicyInForce, ...]:
    """The session policies of the request that began the session (inline, then by ARN)."""
    return session_policies_of(snapshot, session.session_policy, session.session_policy_arns)


def session_policies_of(
    snapshot: HistoryAt, inline: str | None, arns: Sequence[str]
) -> tuple[PolicyInForce, ...]:
    """`session_policies` from a session's two columns (who-could reads rows, not views)."""
    own = (
        (PolicyInForce(INLINE_SESSION_POLICY, "inline", None, inline, "history"),) if inline else ()
    )
    return own + tuple(snapshot.managed(arn) for arn in arns)


def request_context(
    session: SessionView,
    principal: str,
    in_force: PoliciesInForce,
    at: datetime,
    issued: datetime,
    *,
    only: frozenset[str] | None = None,
) -> RequestContext:
    """The condition keys a request made with the session's credential at `at` carries
    (with `only`, just those keys: see `session_context`)."""
    wants_ip = only is None or "aws:sourceip" in only
    return session_context(
        principal_arn=principal,
        at=to_utc(at),
        session_name=session.session_name or session.session_id,
        issued_at=issued,
        mfa_authenticated=session.mfa_authenticated,
        source_identity=session.source_identity,
        source_ip=_ip_or_none(session.source_ip) if wants_ip else None,
        role_tags=in_force.tags,
        session_tags=session.session_tags,
        only=only,
    )


def _ip_or_none(value: str | None) -> str | None:
    # AWS writes a service name (`ec2.amazonaws.com`) where a service made the call.
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _parsed(label: str, document: str) -> Policy:
    return load_policy((label, document)) if label else load_policy(document)


def _session_policy(x: PolicyInForce) -> Policy:
    # The request's inline session policy has no name of its own; reasons say "session policy".
    if x.name == INLINE_SESSION_POLICY:
        return _parsed("", x.document or "")
    return _parsed(x.label, x.document or "")


def check_request(action: str, resource: str) -> None:
    """Raise PolicyRequestError for a malformed action or resource, by the evaluator's rules."""
    evaluate(action=action, resource=resource, identity_policies=[])


def decide(
    perms: SessionPermissions, action: str, resource: str, *, checked: bool = False
) -> Decision:
    """May this session do `action` on `resource` at `perms.at`? With the reason.

    `checked`: the request was validated already (who-could asks once for every session).
    """
    if not checked:
        check_request(action, resource)
    if perms.at < perms.session.started_at:
        return within_lifetime(perms.session, perms.at, Decision("implicit_deny", ""))
    decision = evaluate_principal(
        perms.principal_arn,
        perms.policies,
        perms.session_policies,
        perms.context,
        action=action,
        resource=resource,
    )
    return within_lifetime(perms.session, perms.at, decision)


def within_lifetime(s: SessionView, at: datetime, decision: Decision) -> Decision:
    """The policies' decision, bounded by the session's lifetime: before its start or after
    its end, a session can do nothing, whatever its policies say."""
    if at < s.started_at:
        return Decision(
            "implicit_deny",
            f"the session had not started at {iso(at)} (it started {iso(s.started_at)})",
        )
    if s.started_at <= at < s.ends_at:
        return decision
    ended = f"the session was not active at {iso(at)}: {_end(s)}"
    if decision.effect == "explicit_deny":
        return Decision("explicit_deny", f"{decision.reason}; and {ended}", decision.matched)
    return Decision("implicit_deny", ended, decision.matched)


def _end(s: SessionView) -> str:
    if s.end_reason == "revoked":
        return (
            f'revoked at {iso(s.revoked_at)} ("revoke active sessions" on {s.role_arn} '
            f"covers credentials issued before then)"
        )
    return f"it ended at {iso(s.ends_at)} ({s.end_reason})"


def evaluate_principal(
    principal_arn: str | None,
    p: PoliciesInForce,
    session_policies: tuple[PolicyInForce, ...],
    context: RequestContext | None,
    *,
    action: str,
    resource: str,
) -> Decision:
    """The decision for a principal with these policies in force and this context."""
    if principal_arn is None or context is None:
        return Decision("implicit_deny", "unknown: the session names no role or IAM user")
    if not p.recorded:
        return Decision(
            "implicit_deny",
            f"unknown: no policy history for {principal_arn} "
            "(import it with `rolecall import-iam`)",
        )
    known = [x for x in p.identity if x.known]
    sessions = [x for x in session_policies if x.known]
    boundary = p.boundary if p.boundary is not None and p.boundary.known else None
    try:
        decision = evaluate(
            action=action,
            resource=resource,
            identity_policies=[_parsed(x.label, x.document or "") for x in known],
            session_policies=[_session_policy(x) for x in sessions],
            boundary=_parsed(f"{boundary.label}", boundary.document or "") if boundary else None,
            context=context,
        )
    except (PolicyDocumentError, PolicyContextError) as exc:
        return Decision("implicit_deny", f"a policy in force could not be evaluated: {exc}")
    return _with_unknowns(decision, p, session_policies, known)


def _with_unknowns(
    decision: Decision,
    p: PoliciesInForce,
    session_policies: tuple[PolicyInForce, ...],
    known: list[PolicyInForce],
) -> Decision:
    """Never allow silently past a policy whose document is unknown; say what was assumed."""
    effect, reason = decision.effect, decision.reason
    if effect == "allow" and p.boundary is not None and not p.boundary.known:
        effect = "implicit_deny"
        reason = (
            f"unknown policy document of the permissions boundary {p.boundary.label}: "
            f"cannot confirm that it allows ({reason})"
        )
    unknown_sessions = [x for x in session_policies if not x.known]
    if effect == "allow" and unknown_sessions and not any(x.known for x in session_policies):
        effect = "implicit_deny"
        names = ", ".join(x.label for x in unknown_sessions)
        reason = f"unknown policy document of session policy {names}: cannot confirm ({reason})"
    unknown = [x.label for x in p.identity if not x.known]
    if unknown:
        what = "it might hold a Deny" if effect == "allow" else "it might allow"
        reason += f"; unknown policy document: {', '.join(unknown)} (not evaluated; {what})"
    for x in known:
        if x.approximate and f"'{x.label}'" in reason:
            reason += "; note: " + APPROXIMATION_NOTE.format(name=x.label)
    return Decision(effect, reason, decision.matched)


def summary(perms: SessionPermissions) -> str:
    """A short human summary: `PowerUserAccess ∩ session policy`, `ReadOnlyAccess (approx.)`."""
    p = perms.policies
    if perms.principal_arn is None:
        return "unknown: the session names no role or IAM user"
    if not p.recorded:
        return "unknown: no policy history"
    names = [_short(x) for x in p.identity] or ["no policies"]
    text = " + ".join(names)
    if perms.session_policies:
        text += " ∩ " + " ∩ ".join(
            "session policy" if x.name == INLINE_SESSION_POLICY else f"session {_short(x)}"
            for x in perms.session_policies
        )
    if p.boundary is not None:
        text += f" ∩ boundary {_short(p.boundary)}"
    if not perms.active and perms.at >= perms.session.started_at:
        text = f"ended ({perms.session.end_reason}): {text}"
    return text


def _short(x: PolicyInForce) -> str:
    if not x.known:
        return f"{x.label} (unknown document)"
    return f"{x.label} (approx.)" if x.approximate else x.label
