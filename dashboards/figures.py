"""Plotly figures: the activity over a range (with its findings), and the Gantt of a
window's sessions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go

from dashboards.style import END_COLORS, SEVERITY_COLORS, VIA_COLORS
from dashboards.widgets import short_name
from pipeline.findings import SEVERITIES, Finding
from pipeline.pivots import CallMark
from pipeline.replay import Timeline, TimelineBar

END_SYMBOLS = {"exited": "line-ns-open", "expired": "circle-open", "revoked": "x"}


def _base(height: int) -> dict[str, Any]:
    return {
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 10, "b": 30},
        "plot_bgcolor": "#fff",
        "paper_bgcolor": "#fff",
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        "font": {"size": 12},
    }


def activity_figure(
    tl: Timeline, at: datetime | None, findings: Sequence[Finding] = ()
) -> go.Figure:
    """Active sessions over time (bars or buckets), with the chosen moment marked and
    each finding a marker at its first evidence (one trace per severity)."""
    fig = go.Figure()
    counts: dict[str, dict[datetime, int]] = defaultdict(dict)
    if tl.buckets:
        for b in tl.buckets:
            counts[b.via][b.start] = b.sessions
    for via in sorted(counts):
        points = sorted(counts[via].items())
        fig.add_bar(
            x=[p[0] for p in points],
            y=[p[1] for p in points],
            name=via.replace("_", " ").lower(),
            marker_color=VIA_COLORS.get(via, "#555"),
            offset=0,
            width=tl.bucket_seconds * 1000,
            hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y} active<extra>%{fullData.name}</extra>",
        )
    fig.update_layout(**_base(170), barmode="stack", bargap=0)
    fig.update_yaxes(title_text="active", gridcolor="#eee")
    fig.update_xaxes(range=[tl.start, tl.end])
    for t, role in tl.revocations:
        fig.add_vline(x=t, line_color=END_COLORS["revoked"], line_dash="dot")
        fig.add_annotation(
            x=t,
            y=1,
            yref="paper",
            text=f"revoked {short_name(role)}",
            showarrow=False,
            font={"color": END_COLORS["revoked"], "size": 11},
            xanchor="left",
        )
    if at is not None:
        fig.add_vline(x=at, line_color="#d62728", line_width=2)
    _finding_markers(fig, findings)
    return fig


# Marker heights on the findings' own axis (0-1 over the plot): the severest on top.
_SEVERITY_ROW = {"high": 0.92, "medium": 0.8, "low": 0.68}


def _finding_markers(fig: go.Figure, findings: Sequence[Finding]) -> None:
    """One marker trace per severity, on an overlaid axis so the bars keep their scale;
    a click on a marker jumps the Replay there like a click on a bar."""
    if not findings:
        return
    for severity in SEVERITIES:
        shown = [f for f in findings if f.severity == severity]
        if not shown:
            continue
        fig.add_scatter(
            x=[f.first_at for f in shown],
            y=[_SEVERITY_ROW.get(severity, 0.6)] * len(shown),
            yaxis="y2",
            mode="markers",
            name=f"{severity} finding",
            marker={
                "symbol": "diamond",
                "size": 11,
                "color": SEVERITY_COLORS.get(severity, "#555"),
                "line": {"width": 1, "color": "#fff"},
            },
            customdata=[[f.rule, f.summary] for f in shown],
            hovertemplate=(
                "%{x|%Y-%m-%d %H:%M:%S}<br><b>%{customdata[0]}</b><br>%{customdata[1]}"
                "<extra>" + severity + "</extra>"
            ),
        )
    fig.update_layout(
        yaxis2={"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True}
    )


def sub_lanes(bars: Sequence[TimelineBar]) -> dict[str, str]:
    """Each bar's row: its lane, split into sub-lanes so that sessions overlapping in time
    lie side by side instead of on one another (the first free sub-lane, by start)."""
    rows: dict[str, str] = {}
    ends: dict[str, list[datetime]] = defaultdict(list)
    for b in sorted(bars, key=lambda b: (b.started_at, b.session_id)):
        taken = ends[b.lane]
        k = next((i for i, end in enumerate(taken) if end <= b.started_at), len(taken))
        if k == len(taken):
            taken.append(b.ends_at)
        else:
            taken[k] = b.ends_at
        rows[b.session_id] = short_name(b.lane) + (f"  ({k + 1})" if k else "")
    return rows


def _lane_order(label: str) -> tuple[str, int]:
    """A lane, then its sub-lanes in number order ((2) before (10))."""
    lane, _, number = label.partition("  (")
    return lane, int(number.rstrip(")")) if number else 1


def timeline_figure(tl: Timeline, calls: Sequence[CallMark] = ()) -> go.Figure:
    """One bar per session on its principal's (or role's) lane, sessions that overlap on
    sub-lanes side by side, coloured by how assumed; every end marked by why; each call
    a tick on its session's bar (allowed and denied)."""
    if tl.aggregated:
        return activity_figure(tl, None)
    row = sub_lanes(tl.bars)
    order = sorted(set(row.values()), key=_lane_order, reverse=True)
    fig = go.Figure()
    by_via: dict[str, list[Any]] = defaultdict(list)
    for b in tl.bars:
        by_via[b.via or "unknown"].append(b)
    for via in sorted(by_via):
        bars = by_via[via]
        fig.add_bar(
            orientation="h",
            base=[b.started_at for b in bars],
            x=[(b.ends_at - b.started_at).total_seconds() * 1000 for b in bars],
            y=[row[b.session_id] for b in bars],
            customdata=[[b.session_id, short_name(b.role_arn), b.end_reason] for b in bars],
            name=via.replace("_", " ").lower(),
            marker_color=VIA_COLORS.get(via, "#555"),
            hovertemplate=(
                "%{customdata[0]}<br>%{customdata[1]}<br>%{base|%Y-%m-%d %H:%M:%S} -> "
                "%{customdata[2]}<extra>%{fullData.name}</extra>"
            ),
        )
    for reason, symbol in END_SYMBOLS.items():
        ends = [b for b in tl.bars if b.end_reason == reason]
        if ends:
            fig.add_scatter(
                x=[b.ends_at for b in ends],
                y=[row[b.session_id] for b in ends],
                customdata=[[b.session_id, short_name(b.role_arn), reason] for b in ends],
                mode="markers",
                name=reason,
                marker={
                    "symbol": symbol,
                    "size": 9,
                    "color": END_COLORS[reason],
                    "line": {"width": 2, "color": END_COLORS[reason]},
                },
                hovertemplate="%{customdata[0]} %{customdata[2]} at %{x|%H:%M:%S}<extra></extra>",
            )
    _call_ticks(fig, calls, row)
    fig.update_layout(**_base(max(260, 26 * len(order) + 90)), barmode="overlay")
    fig.update_yaxes(categoryorder="array", categoryarray=order, automargin=True)
    fig.update_xaxes(type="date", range=[tl.start, tl.end], gridcolor="#eee")
    for t, _role in tl.revocations:
        fig.add_vline(x=t, line_color=END_COLORS["revoked"], line_dash="dot")
    return fig


CALL_COLORS = {True: "#0b3d0b", False: "#c62828"}


def _call_ticks(fig: go.Figure, calls: Sequence[CallMark], row: dict[str, str]) -> None:
    """A tick per call on its session's row: dark for allowed, red for denied."""
    for allowed in (True, False):
        shown = [c for c in calls if c.allowed is allowed and c.session_id in row]
        if not shown:
            continue
        fig.add_scatter(
            x=[c.event_time for c in shown],
            y=[row[c.session_id] for c in shown],
            customdata=[[c.session_id, c.action] for c in shown],
            mode="markers",
            name="call allowed" if allowed else "call denied",
            marker={
                "symbol": "line-ns-open",
                "size": 12 if allowed else 14,
                "color": CALL_COLORS[allowed],
                "line": {"width": 1 if allowed else 2, "color": CALL_COLORS[allowed]},
            },
            hovertemplate="%{x|%H:%M:%S} %{customdata[1]}<br>%{customdata[0]}<extra></extra>",
        )


def calls_figure(start: datetime, end: datetime, calls: Sequence[CallMark]) -> go.Figure:
    """A session's calls on its lifetime's axis: allowed above, denied below."""
    fig = go.Figure()
    for allowed, y in ((True, "allowed"), (False, "denied")):
        shown = [c for c in calls if c.allowed is allowed]
        fig.add_scatter(
            x=[c.event_time for c in shown],
            y=[y] * len(shown),
            customdata=[[c.action] for c in shown],
            mode="markers",
            name=y,
            marker={
                "symbol": "line-ns-open",
                "size": 16,
                "color": CALL_COLORS[allowed],
                "line": {"width": 2, "color": CALL_COLORS[allowed]},
            },
            hovertemplate="%{x|%Y-%m-%d %H:%M:%S} %{customdata[0]}<extra></extra>",
        )
    fig.update_layout(**_base(150), showlegend=False)
    fig.update_yaxes(categoryorder="array", categoryarray=["denied", "allowed"])
    fig.update_xaxes(type="date", range=[start, end], gridcolor="#eee")
    return fig
