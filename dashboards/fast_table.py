"""Sessions as one block of HTML, for the tables a step or a play tick redraws.

Hundreds of Dash components (a link, spans and pills per cell) take the browser seconds
to mount on a loaded machine; the same table as one HTML string mounts in milliseconds.
Links are plain anchors, which assets/rolecall.js turns into in-app navigation, and
every cut text keeps its whole on hover (`title`) and in the CSV (`data-full`).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from dash import dcc

from dashboards.links import ip_href, key_href, principal_href, role_href, session_href
from dashboards.style import END_COLORS, VIA_COLORS
from dashboards.widgets import short_name, when
from pipeline.sessions import SessionView


def _a(href: str, text: str, *, title: str = "", cls: str = "") -> str:
    # The whole name is in the title (hover, and the CSV of a cut name).
    return (
        f'<a href="{escape(href)}" class="{cls}" title="{escape(title or text)}">{escape(text)}</a>'
    )


def _span(text: str, *, title: str = "", cls: str = "", style: str = "") -> str:
    extra = f' style="{escape(style)}"' if style else ""
    return f'<span class="{cls}" title="{escape(title)}"{extra}>{escape(text)}</span>'


def arn_link(arn: str | None, *, missing: str = "not recorded") -> str:
    if not arn:
        return _span(missing, cls="unknown")
    return _a(principal_href(arn), short_name(arn), title=arn, cls="id clip")


def principal_cell(s: SessionView) -> str:
    if s.principal_arn:
        return arn_link(s.principal_arn)
    return _span(s.principal_label, title=s.principal_label, cls="unknown")


def role_cell(s: SessionView) -> str:
    if not s.role_arn:
        return _span("(the user's own)")
    return _a(role_href(s.role_arn), short_name(s.role_arn), title=s.role_arn, cls="id clip")


def origin_cell(s: SessionView) -> str:
    if s.origin_resolved and s.origin_arn:
        label = short_name(s.origin_arn) if s.origin_label == s.origin_arn else s.origin_label
        return _a(principal_href(s.origin_arn), label, title=s.origin_label, cls="id clip")
    return _span(s.origin_label, title=s.origin_label, cls="unknown clip")


def via_cell(via: str | None) -> str:
    v = via or "unknown"
    return _span(
        v.replace("_", " ").lower(), cls="pill", style=f"background:{VIA_COLORS.get(v, '#555')}"
    )


def _estimated(basis: str) -> str:
    return _span("(estimated)", title=basis, cls="estimated")


def started_cell(s: SessionView) -> str:
    text = escape(when(s.started_at))
    return text + (" " + _estimated(s.started_at_basis) if s.started_at_estimated else "")


def ending_cell(s: SessionView) -> str:
    reason = _span(s.end_reason, style=f"color:{END_COLORS.get(s.end_reason, '#333')}")
    text = f"{escape(when(s.ends_at))} {reason}"
    return text + (" " + _estimated(s.ends_at_basis) if s.ends_at_estimated else "")


def session_cell(session_id: str) -> str:
    return _a(session_href(session_id), session_id, cls="mono id")


def table_html(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    table_id: str,
    *,
    hide: dict[str, str] | None = None,
    row_classes: Sequence[str] = (),
) -> str:
    """`rows` of cells already in HTML (escaped), as a table with a CSV button;
    `row_classes` (one per row, when given) marks rows, e.g. highlighted evidence."""
    cls = [(hide or {}).get(h, "") for h in headers]
    head = "".join(f'<th class="{c}">{escape(h)}</th>' for h, c in zip(headers, cls, strict=True))
    marks = list(row_classes) or [""] * len(rows)
    body = "".join(
        f'<tr class="{escape(m)}">'
        + "".join(f'<td class="{c}">{v}</td>' for v, c in zip(r, cls, strict=True))
        + "</tr>"
        for r, m in zip(rows, marks, strict=True)
    )
    text = (
        '<div class="table-box"><div class="table-tools">'
        f'<button class="csv-export" title="Download this table as CSV" data-table="{table_id}" '
        f'data-filename="{table_id}.csv">⤓ CSV</button></div>'
        f'<table class="grid" id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )
    return text


def key_cell(key: str | None) -> str:
    if not key:
        return _span("not recorded", cls="unknown")
    return _a(key_href(key), key, cls="mono id")


def ip_cell(address: str | None) -> str:
    if not address:
        return _span("not recorded", cls="unknown")
    return _a(ip_href(address), address, cls="mono id")


def text(value: object, *, cls: str = "") -> str:
    return _span(str(value), cls=cls) if cls else escape(str(value))


def html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    table_id: str,
    *,
    hide: dict[str, str] | None = None,
    row_classes: Sequence[str] = (),
) -> dcc.Markdown:
    """The same as one Dash component, for a page drawn once."""
    return dcc.Markdown(
        table_html(headers, rows, table_id, hide=hide, row_classes=row_classes),
        dangerously_allow_html=True,
        className="html-table",
    )
