"""Plotly figures for the pages; plotly.js itself is served from our static files.

A figure is handed to the page as JSON in a ``<script type="application/json">`` block and drawn
by ``static/touchstone/chart.js``: the site's Content-Security-Policy runs no inline script.
"""

from __future__ import annotations

import json
from html import escape

import plotly.graph_objects as go
import plotly.io as pio

from evaluation.metrics import METRICS

TIER_COLOURS = ("#1f5fa8", "#2e7d32", "#b26a00", "#7b1fa2", "#546e7a")
TIER_SHADES = (
    "rgba(31,95,168,0.07)",
    "rgba(46,125,50,0.07)",
    "rgba(178,106,0,0.07)",
    "rgba(123,31,162,0.07)",
    "rgba(84,110,122,0.07)",
)


def plain_text(text: str) -> str:
    """Text that plotly shows as written.

    plotly.js reads a subset of HTML in every label (``<a href>``, ``<b>``, ``<br>``, ``<span
    style>`` and entities), so a model named ``<a href=...>`` would become a live link on our
    page. Escaped, the tags are shown as characters: plotly turns ``&lt;`` back into ``<`` only
    when it writes the text.
    """
    return escape(text, quote=False)


def leaderboard_chart(payload: dict) -> dict:
    """Primary metric of every entry with its 95% interval as error bars, best at the top.

    Each tier is a shaded band behind its entries, so entries that cannot be told apart are
    visibly grouped. Returns the figure as plotly's JSON (``data``, ``layout``, ``config``).
    """
    metric = payload["primary_metric"]
    entries = payload["entries"]
    labels = [f"#{e['rank']} {plain_text(e['model_name'])} ({plain_text(e['team'])})" for e in entries]
    values = [e["metrics"][metric]["value"] for e in entries]
    lows = [e["metrics"][metric]["ci_low"] for e in entries]
    highs = [e["metrics"][metric]["ci_high"] for e in entries]
    tiers = [e["tier"] for e in entries]
    figure = go.Figure(
        go.Scatter(
            x=values,
            y=list(range(len(entries))),
            mode="markers",
            marker={
                "size": 10,
                "symbol": ["diamond" if e["is_baseline"] else "circle" for e in entries],
                "color": [TIER_COLOURS[(t - 1) % len(TIER_COLOURS)] for t in tiers],
            },
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [h - v for h, v in zip(highs, values, strict=True)],
                "arrayminus": [v - lo for v, lo in zip(values, lows, strict=True)],
                "thickness": 2,
            },
            customdata=[[label, tier, lo, hi] for label, tier, lo, hi in zip(labels, tiers, lows, highs, strict=True)],
            hovertemplate="%{customdata[0]}<br>%{x:.4f} [%{customdata[2]:.4f}, %{customdata[3]:.4f}]"
            "<br>tier %{customdata[1]}<extra></extra>",
        )
    )
    for tier in sorted(set(tiers)):
        rows = [i for i, t in enumerate(tiers) if t == tier]
        figure.add_hrect(
            y0=min(rows) - 0.45,
            y1=max(rows) + 0.45,
            fillcolor=TIER_SHADES[(tier - 1) % len(TIER_SHADES)],
            line_width=0,
            layer="below",
            annotation_text=f"tier {tier}",
            annotation_position="right",
        )
    title = METRICS[metric].title if metric in METRICS else metric
    part = "feedback part, Ladder-released" if payload["part"] == "feedback" else "final part"
    figure.update_layout(
        xaxis_title=f"{title} on the {part} (95% interval)",
        yaxis={"autorange": "reversed", "tickmode": "array", "tickvals": list(range(len(entries))), "ticktext": labels},
        height=120 + 40 * max(1, len(entries)),
        margin={"l": 20, "r": 60, "t": 20, "b": 50},
        template="plotly_white",
        showlegend=False,
    )
    drawn = json.loads(pio.to_json(figure))
    drawn["config"] = {"displaylogo": False, "responsive": True}
    return drawn
