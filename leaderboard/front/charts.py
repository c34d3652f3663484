"""Plotly figures for the pages; plotly.js itself is served from our static files."""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from evaluation.metrics import METRICS

TIER_COLOURS = ("#1f5fa8", "#2e7d32", "#b26a00", "#7b1fa2", "#546e7a")
TIER_SHADES = ("rgba(31,95,168,0.07)", "rgba(46,125,50,0.07)", "rgba(178,106,0,0.07)", "rgba(123,31,162,0.07)",
               "rgba(84,110,122,0.07)")


def leaderboard_chart(payload: dict) -> str:
    """Primary metric of every entry with its 95% interval as error bars, best at the top.

    Each tier is a shaded band behind its entries, so entries that cannot be told apart are
    visibly grouped.
    """
    metric = payload["primary_metric"]
    entries = payload["entries"]
    labels = [f"#{e['rank']} {e['model_name']} ({e['team']})" for e in entries]
    values = [e["metrics"][metric]["value"] for e in entries]
    lows = [e["metrics"][metric]["ci_low"] for e in entries]
    highs = [e["metrics"][metric]["ci_high"] for e in entries]
    tiers = [e["tier"] for e in entries]
    figure = go.Figure(
        go.Scatter(
            x=values,
            y=list(range(len(entries))),
            mode="markers",
            marker={"size": 10, "symbol": ["diamond" if e["is_baseline"] else "circle" for e in entries],
                    "color": [TIER_COLOURS[(t - 1) % len(TIER_COLOURS)] for t in tiers]},
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
        figure.add_hrect(y0=min(rows) - 0.45, y1=max(rows) + 0.45, fillcolor=TIER_SHADES[(tier - 1) % len(TIER_SHADES)],
                         line_width=0, layer="below", annotation_text=f"tier {tier}", annotation_position="right")
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
    return pio.to_html(figure, include_plotlyjs=False, full_html=False, div_id="leaderboard-chart",
                       config={"displaylogo": False, "responsive": True})
