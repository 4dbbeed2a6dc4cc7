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
from pipeline.replay import Timeline

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


def timeline_figure(tl: Timeline) -> go.Figure:
    """One bar per session on its principal's (or role's) lane, coloured by how assumed."""
    if tl.aggregated:
        return activity_figure(tl, None)
    lanes = sorted({b.lane for b in tl.bars}, reverse=True)
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
            y=[short_name(b.lane) for b in bars],
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
                y=[short_name(b.lane) for b in ends],
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
    fig.update_layout(**_base(max(260, 26 * len(lanes) + 90)), barmode="overlay")
    fig.update_yaxes(
        categoryorder="array", categoryarray=[short_name(x) for x in lanes], automargin=True
    )
    fig.update_xaxes(type="date", range=[tl.start, tl.end], gridcolor="#eee")
    for t, _role in tl.revocations:
        fig.add_vline(x=t, line_color=END_COLORS["revoked"], line_dash="dot")
    return fig
