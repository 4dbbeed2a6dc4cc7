"""Session view: the chain from the origin, the credentials, policy, tags, actions and end."""

from __future__ import annotations

import json
from typing import Any

from dash import dcc, html

from dashboards import fast_table as ft
from dashboards.figures import calls_figure
from dashboards.widgets import (
    end_label,
    ending,
    finding_href,
    finding_time,
    grid,
    ip_link,
    key_link,
    name,
    origin,
    principal,
    session_link,
    severity_pill,
    started,
    via_pill,
    when,
)
from pipeline.errors import NotFoundError
from pipeline.findings import Finding
from pipeline.pivots import CallMark
from pipeline.queries import Queries, SessionDetail, SessionView


def layout(q: Queries, session_id: str, finding_id: str | None = None) -> html.Div:
    """A session; with `finding_id` (one of its findings) that finding's evidence is
    highlighted among the actions."""
    try:
        detail = q.session(session_id)
    except NotFoundError as exc:
        return html.Div([html.H2("Session"), html.P(str(exc))])
    s = detail.session
    found = q.findings_of_session(s.session_id)
    chosen = next((f for f in found if f.finding_id == finding_id), None)
    evidence = frozenset(chosen.evidence) if chosen else frozenset()
    return html.Div(
        [
            html.H2(["Session ", html.Span(s.session_id, className="mono")]),
            html.Div([_facts(s)], className="card"),
            html.Div(_findings(s.session_id, found, chosen, finding_id, detail), className="card"),
            html.Div([html.H3("Chain from the origin"), _chain(detail)], className="card"),
            html.Div([html.H3("Credentials"), _credentials(detail)], className="card"),
            html.Div([html.H3("Session policy and tags"), *_policy(s)], className="card"),
            html.Div(
                [
                    html.H3(f"Actions with its keys ({len(detail.actions)})"),
                    _calls_chart(detail),
                    _actions(detail, evidence),
                ],
                className="card",
            ),
        ],
        id="session-view",
    )


def _facts(s: SessionView) -> html.Dl:
    end: list[Any] = [when(s.ends_at), " ", end_label(s.end_reason)]
    if s.end_reason == "revoked" and not s.ends_at_estimated:
        end.append(" (revoke active sessions on the role)")
    end.append(html.Div(s.ends_at_basis, className="muted", id="session-end-basis"))
    start: list[Any] = [when(s.started_at)]
    if s.started_at_estimated:
        start.append(html.Div(s.started_at_basis, className="muted"))
    kind = f" ({s.origin_type})" if s.origin_resolved and s.origin_type else ""
    pairs: list[tuple[str, Any]] = [
        ("role", name(s.role_arn) if s.role_arn else "(the user's own permissions)"),
        ("session name", s.session_name or "not recorded"),
        ("principal", principal(s)),
        ("origin", html.Span([origin(s), kind], id="session-origin")),
        ("how assumed", via_pill(s.via)),
        ("started", html.Span(start)),
        ("ended", html.Span(end)),
        ("last successful use", when(s.last_used_at) if s.last_used_at else "none recorded"),
        ("source identity", s.source_identity or "none"),
        (
            "MFA",
            "not reported"
            if s.mfa_authenticated is None
            else ("yes" if s.mfa_authenticated else "no"),
        ),
        ("source IP", ip_link(s.source_ip)),
        ("user agent", s.user_agent or "not recorded"),
    ]
    items: list[html.Dt | html.Dd] = []
    for label, value in pairs:
        items += [html.Dt(label), html.Dd(value)]
    return html.Dl(items, className="facts")


def _chain(detail: SessionDetail) -> html.Ul:
    chain = detail.chain
    root = chain[0]
    kind = root.origin_resolved and root.origin_type
    items = [
        html.Li(
            [
                origin(root),
                "  origin" + (f" ({root.origin_type})" if kind else ""),
            ],
            className="origin",
        )
    ]
    for s in chain:
        items.append(
            html.Li(
                [
                    session_link(s.session_id),
                    " ",
                    via_pill(s.via),
                    " ",
                    name(s.role_arn),
                    html.Span(["  ", started(s), " → ", ending(s)], className="muted"),
                ],
                className="current" if s.session_id == detail.session.session_id else "",
            )
        )
    return html.Ul(items, className="chain", id="session-chain")


def _credentials(detail: SessionDetail) -> html.Div | html.P:
    rows = [
        [
            key_link(c["access_key_id"]),
            c["issued_at"] or "not recorded",
            c["expires_at"] or "not recorded",
        ]
        for c in detail.credentials
    ]
    return grid(["access key", "issued", "expires"], rows) if rows else html.P("No key recorded.")


def _policy(s: SessionView) -> list[html.Div | html.P | html.Pre | html.Table]:
    out: list[html.Div | html.P | html.Pre | html.Table] = []
    if s.session_policy:
        try:
            text = json.dumps(json.loads(s.session_policy), indent=2)
        except ValueError:
            text = s.session_policy
        out.append(html.Pre(text, className="policy"))
    else:
        out.append(html.P("No inline session policy."))
    if s.session_policy_arns:
        out.append(html.P("Policy ARNs: " + ", ".join(s.session_policy_arns)))
    if s.session_tags:
        rows = [
            [k, v, "transitive" if k in s.transitive_tag_keys else ""]
            for k, v in sorted(s.session_tags.items())
        ]
        out.append(grid(["tag", "value", ""], rows))
    else:
        out.append(html.P("No session tags."))
    return out


def _findings(
    session_id: str,
    found: list[Finding],
    chosen: Finding | None,
    asked: str | None,
    detail: SessionDetail,
) -> list[Any]:
    """The session's findings (each a link that highlights its evidence), and what the
    highlighted evidence is."""
    out: list[Any] = [html.H3(f"Findings ({len(found)})")]
    if not found:
        out.append(html.P("No finding about this session.", id="session-findings"))
        return out
    rows = [
        [
            dcc.Link(f.rule, href=finding_href(session_id, f.finding_id), className="nowrap"),
            severity_pill(f.severity),
            f.summary,
            html.Span(finding_time(f.first_at, f.last_at), className="nowrap"),
        ]
        for f in found
    ]
    classes = ["chosen" if f is chosen else "" for f in found]
    out.append(grid(["rule", "severity", "summary", "time"], rows, "session-findings", classes))
    if chosen is not None:
        out.append(_evidence_note(chosen, detail))
    elif asked:
        out.append(html.P(f"Finding {asked} is not about this session.", className="muted"))
    else:
        out.append(html.P("Open a finding to highlight its evidence below.", className="muted"))
    return out


def _evidence_note(f: Finding, detail: SessionDetail) -> html.P:
    """How many of the finding's evidence events are the actions highlighted below; the
    rest (a sign-in, the issuing call, another session's calls) are named by id."""
    actions = {a.event_id for a in detail.actions}
    shown = [e for e in f.evidence if e in actions]
    other = [e for e in f.evidence if e not in actions]
    parts = [
        f"{f.rule}: {len(shown)} of its {f.evidence_count} evidence event(s) are actions "
        "highlighted below"
    ]
    if other:
        parts.append(f"; not among this session's actions: {', '.join(other)}")
    if f.evidence_count > len(f.evidence):
        parts.append(f" (the finding lists {len(f.evidence)} of them)")
    return html.P("".join(parts) + ".", id="session-evidence-note")


def _calls_chart(detail: SessionDetail) -> dcc.Graph | html.Span:
    """When its calls were made over its lifetime (allowed and denied), calls after its
    end included."""
    s = detail.session
    if not detail.actions:
        return html.Span()
    calls = [
        CallMark(
            session_id=s.session_id,
            event_time=a.event_time,
            action=a.action,
            allowed=a.outcome == "ALLOWED",
        )
        for a in detail.actions
    ]
    start = min(s.started_at, calls[0].event_time)
    end = max(s.ends_at, calls[-1].event_time)
    pad = (end - start) * 0.02
    return dcc.Graph(
        id="session-calls",
        figure=calls_figure(start - pad, end + pad, calls),
        config={"displayModeBar": False},
    )


def _actions(detail: SessionDetail, evidence: frozenset[str] = frozenset()) -> Any:
    """Its calls as one HTML table (a session may have a thousand)."""
    rows = [
        [
            ft.text(when(a.event_time)),
            ft.key_cell(a.access_key_id),
            ft.text(a.action),
            ft.text(", ".join(a.resources) or "none recorded", cls="mono"),
            ft.text(a.outcome.lower(), cls=a.outcome.lower()),
            ft.text(a.error_code or ""),
            ft.ip_cell(a.source_ip),
            ft.text(
                a.lifetime,
                cls="outside" if a.lifetime.startswith(("after", "before")) else "",
            ),
        ]
        for a in detail.actions
    ]
    headers = ["time", "key", "action", "resources", "outcome", "error", "source IP", "in lifetime"]
    classes = ["evidence" if a.event_id in evidence else "" for a in detail.actions]
    if not rows:
        return html.P("No action recorded with its keys.")
    return ft.html_table(headers, rows, "session-actions", row_classes=classes)
