"""How the pages look: one small stylesheet inlined into Dash's index page."""

from __future__ import annotations

# Fixed colours per way of assuming, so a colour means the same thing on every page.
VIA_COLORS = {
    "ASSUME_ROLE": "#1f77b4",
    "SAML": "#9467bd",
    "WEB_IDENTITY": "#2ca02c",
    "CONSOLE_SWITCH_ROLE": "#ff7f0e",
    "CONSOLE_SIGN_IN": "#e6a800",
    "AWS_SERVICE": "#7f7f7f",
    "GET_SESSION_TOKEN": "#17becf",
    "GET_FEDERATION_TOKEN": "#8c564b",
    "INFERRED": "#bcbd22",
}
END_COLORS = {"revoked": "#d62728", "exited": "#333333", "expired": "#888888"}
# Findings by severity: the same colours in the Findings table, the session view and on
# the Replay chart's markers.
SEVERITY_COLORS = {"high": "#c62828", "medium": "#e67700", "low": "#5b6b82"}

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0; color: #1d2430; background: #f6f7f9; font-size: 14px; }
header { background: #1d2430; color: #fff; padding: 10px 24px; display: flex;
         align-items: baseline; gap: 28px; }
header .brand { font-weight: 700; font-size: 18px; letter-spacing: .5px; }
header a { color: #c9d3e3; text-decoration: none; font-size: 15px; }
header a:hover, header a.active { color: #fff; text-decoration: underline; }
main { padding: 16px 24px; }
h2 { margin: 4px 0 12px; font-size: 20px; }
h3 { margin: 18px 0 8px; font-size: 16px; }
.card { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 12px 16px;
        margin-bottom: 14px; }
.row { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
.filters > div, .filters > input { min-width: 210px; }
.moment { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.muted { color: #667085; }
.nowrap { white-space: nowrap; }
button { font-size: 14px; padding: 5px 12px; border: 1px solid #b8c0cc; border-radius: 4px;
         background: #fff; cursor: pointer; }
button:hover { background: #eef2f7; }
input[type=text], input:not([type]) { font-size: 14px; padding: 6px 8px;
         border: 1px solid #b8c0cc; border-radius: 4px; }
table.grid { border-collapse: collapse; width: 100%; background: #fff; }
table.grid th { text-align: left; background: #eef1f5; padding: 6px 8px;
                border-bottom: 2px solid #d0d5dd; font-weight: 600; white-space: nowrap; }
table.grid td { padding: 5px 8px; border-bottom: 1px solid #eceef2; vertical-align: top; }
table.grid tr:hover td { background: #f5f8ff; }
.mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
        font-size: 12px; white-space: nowrap; }
.allowed { color: #1a7f37; font-weight: 600; }
.denied { color: #c62828; font-weight: 600; }
.chain { list-style: none; padding: 0; margin: 0; }
.chain li { border-left: 3px solid #1f77b4; margin: 0 0 8px 14px; padding: 4px 12px; }
.chain li.origin { border-left-color: #1d2430; font-weight: 600; }
.chain li.current { border-left-color: #d62728; background: #fff5f5; }
pre.policy { background: #f3f4f6; padding: 8px; border-radius: 4px; overflow-x: auto;
             font-size: 12.5px; max-height: 320px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { color: #667085; }
dl.facts dd { margin: 0; }
table.grid tr.evidence td { background: #fff4d6; }
table.grid tr.evidence td:first-child { box-shadow: inset 4px 0 0 #e67700; }
.wrap { overflow-wrap: anywhere; display: block; min-width: 240px; }
/* Tables fit the window: long tokens break or are cut (whole on hover and in the CSV);
   on a narrower window the less important columns go (see HIDDEN_FIRST in the views). */
.table-box { max-width: 100%; overflow-x: auto; }
.table-tools { display: flex; justify-content: flex-end; margin: -4px 0 4px; }
button.csv-export { font-size: 12px; padding: 2px 8px; color: #475467; }
table.grid td { overflow-wrap: break-word; }
table.grid td .mono, table.grid td.mono { overflow-wrap: anywhere; }
table.grid td .nowrap { white-space: normal; }
.clip { display: inline-block; max-width: 26ch; overflow: hidden; text-overflow: ellipsis;
        white-space: nowrap; vertical-align: bottom; }
.pending { color: #98a2b3; font-style: italic; }
.unknown { color: #9a6700; }
@media (max-width: 1600px) { .narrow-hide { display: none; } }
a.id { color: #1d4ed8; text-decoration: none; }
a.id:hover { text-decoration: underline; }
table.grid tr.chosen td { background: #fff4d6; font-weight: 600; }
"""

INDEX = (
    "<!DOCTYPE html>\n<html><head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}"
    "<style>" + CSS + "</style></head><body>{%app_entry%}<footer>{%config%}{%scripts%}"
    "{%renderer%}</footer></body></html>"
)
