"""The report as one self-contained HTML file an auditor opens offline: inline CSS and
SVG (a timeline per origin), no script or font fetched from anywhere, and the report's
JSON embedded so that `report verify` can read the file itself."""

from __future__ import annotations

import json
import re
from datetime import datetime
from html import escape

from pipeline.reports.model import EMBED_ID, OriginSummary, Report, ReportSession
from pipeline.reports.tabular import (
    ORIGIN_HEADER,
    SESSION_HEADER,
    origin_cells,
    session_cells,
)
from pipeline.timeutil import iso_z, to_utc

_WIDTH, _LANE, _LEFT = 900, 14, 8
_TIME = re.compile(r"\d{4}-\d\d-\d\dT")  # a time: kept on one line

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1b1f24}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
h3{font-size:14px;margin:18px 0 4px}
.meta{color:#57606a} table{border-collapse:collapse;margin:8px 0;font-size:12px}
th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.id{font-family:ui-monospace,monospace;white-space:nowrap}
.est{color:#9a6700;font-style:italic;min-width:16em} .nomfa{color:#cf222e;font-weight:600}
.evidence{font-family:ui-monospace,monospace;font-size:12px;background:#f6f8fa;
padding:8px;white-space:pre-wrap;word-break:break-all}
svg text{font:11px system-ui,sans-serif;fill:#57606a}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
"""


def _x(t: datetime, lo: datetime, hi: datetime) -> float:
    span = (hi - lo).total_seconds() or 1.0
    return _LEFT + (_WIDTH - 2 * _LEFT) * (to_utc(t) - lo).total_seconds() / span


def timeline_svg(origin: OriginSummary, sessions: list[ReportSession], report: Report) -> str:
    """One origin's sessions as bars over the period; an estimated end is hatched."""
    lo, hi = to_utc(report.period_from), to_utc(report.period_to)
    height = 22 + _LANE * len(sessions)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'role="img" aria-label="timeline of {escape(origin.origin_label)}">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" fill="#d4a72c"/></pattern>'
        "</defs>",
        f'<line x1="{_LEFT}" y1="{height - 14}" x2="{_WIDTH - _LEFT}" y2="{height - 14}" '
        'stroke="#8c959f"/>',
    ]
    for i in range(5):
        t = lo + (hi - lo) * i / 4
        x = _x(t, lo, hi)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{height - 2}" text-anchor="{anchor}">{iso_z(t)[:16]}Z</text>'
        )
    for row, s in enumerate(sessions):
        a = _x(max(to_utc(s.started_at), lo), lo, hi)
        b = _x(min(to_utc(s.ends_at), hi), lo, hi)
        y = 4 + row * _LANE
        colour = "#cf222e" if s.mfa_authenticated is False else "#0969da"
        fill = "url(#hatch)" if s.ends_at_estimated else colour
        title = escape(
            f"{s.session_id} {s.role_arn or 'unknown role'}: {iso_z(s.started_at)} -> "
            f"{iso_z(s.ends_at)}" + (" (estimated end)" if s.ends_at_estimated else "")
        )
        parts.append(
            f'<rect x="{a:.1f}" y="{y}" width="{max(b - a, 2):.1f}" height="{_LANE - 4}" '
            f'fill="{fill}" stroke="{colour}" stroke-width="1"><title>{title}</title></rect>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _row(cells: tuple[str, ...], ids: tuple[int, ...] = ()) -> str:
    out = []
    for i, c in enumerate(cells):
        css = ' class="id"' if i in ids or _TIME.match(c) else ""
        if "(estimated" in c:
            css = ' class="est"'
        out.append(f"<td{css}>{escape(c)}</td>")
    return "<tr>" + "".join(out) + "</tr>"


def _table(header: tuple[str, ...], rows: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_html(report: Report) -> str:
    ev = report.evidence
    period = f"{iso_z(report.period_from)} to {iso_z(report.period_to)}"
    by_origin: dict[str, list[ReportSession]] = {}
    for s in report.sessions:
        by_origin.setdefault(s.origin_label, []).append(s)
    timelines = []
    for o in report.origins:
        members = by_origin.get(o.origin_label, [])
        timelines.append(
            f"<h3>{escape(o.origin_label)}: {o.sessions} session(s), {o.hours_held:.2f} h"
            + (f', <span class="nomfa">{o.without_mfa} without MFA</span>' if o.without_mfa else "")
            + f"</h3>{timeline_svg(o, members, report)}"
        )
    known = ""
    if ev.known_at is not None:
        known = f"<p><b>As known at {iso_z(ev.known_at.at)}</b>: {escape(ev.known_at.note)}.</p>"
    positions = "; ".join(
        f"{name}: " + ", ".join(f"p{p}<{o}" for p, o in sorted(parts.items()))
        for name, parts in sorted(ev.positions.items())
    )
    heads = "\n".join(
        f"{h['log_name']} p{h['partition']} last offset {h['last_offset']} "
        f"({h['events']} events): {h['head']}"
        for h in ev.digest.get("heads", [])
    )
    undecided = ""
    if report.undecided:
        undecided = f"<h2>Could not be decided ({len(report.undecided)})</h2>" + _table(
            ("session", "role", "origin", "why"),
            [
                _row((u.session_id, u.role_arn or "unknown", u.origin_label, u.reason), (0,))
                for u in report.undecided
            ],
        )
    what = str(report.privilege.get("description", ""))
    # every "<" escaped: nothing in the data can close the script or open a comment
    payload = json.dumps(report.as_json(), separators=(",", ":")).replace("<", "\\u003c")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Privileged access {escape(period)}</title><style>{_CSS}</style></head>
<body>
<h1>Privileged access report</h1>
<p class="meta">{escape(period)} &middot; sessions that {escape(what)}
(by the policies in force at each session's start) &middot; generated {iso_z(ev.generated_at)}
by rolecall {escape(ev.rolecall_version)}</p>
{known}
<p>{len(report.sessions)} session(s) from {len(report.origins)} origin(s);
{sum(1 for s in report.sessions if s.mfa_authenticated is False)} without MFA;
{sum(1 for s in report.sessions if s.ends_at_estimated)} with an estimated end
(<span class="est">estimated</span>, with its basis).</p>
<h2>Per origin</h2>
{_table(ORIGIN_HEADER, [_row(origin_cells(o)) for o in report.origins])}
<h2>Timelines</h2>
<p class="legend"><span><i class="sw" style="background:#0969da"></i>MFA or unknown</span>
<span><i class="sw" style="background:#cf222e"></i>without MFA</span>
<span><i class="sw" style="background:#d4a72c"></i>estimated end (hatched)</span></p>
{"".join(timelines) or "<p>No session held this power in the period.</p>"}
<h2>Sessions</h2>
{_table(SESSION_HEADER, [_row(session_cells(s), (0,)) for s in report.sessions])}
{undecided}
<h2>Evidence</h2>
<p>Recompute and compare with <code>rolecall report verify THIS_FILE</code>.</p>
<div class="evidence">command: {escape(ev.command)}
rolecall: {escape(ev.rolecall_version)}
log: {escape(ev.log_url or "not named")}
log positions consumed: {escape(positions or "none")}
digest ({escape(str(ev.digest.get("format")))}, taken {escape(str(ev.digest.get("taken_at")))}):
{escape(heads or "no events")}</div>
<script type="application/json" id="{EMBED_ID}">{payload}</script>
</body></html>
"""
