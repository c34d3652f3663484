"""Plotly figures for the pages; plotly.js itself is served from our static files."""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from evaluation.metrics import METRICS


def leaderboard_chart(payload: dict) -> str:
    """Primary metric of every entry with its 95% interval as error bars, best at the top."""
    metric = payload["primary_metric"]
    entries = payload["entries"]
    labels = [f"#{e['rank']} {e['model_name']} ({e['team']})" for e in entries]
    values = [e["metrics"][metric]["value"] for e in entries]
    lows = [e["metrics"][metric]["ci_low"] for e in entries]
    highs = [e["metrics"][metric]["ci_high"] for e in entries]
    figure = go.Figure(
        go.Scatter(
            x=values,
            y=labels,
            mode="markers",
            marker={"size": 10, "color": ["#888" if e["is_baseline"] else "#1f5fa8" for e in entries]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [h - v for h, v in zip(highs, values)],
                "arrayminus": [v - lo for v, lo in zip(values, lows)],
                "thickness": 2,
            },
            hovertemplate="%{y}<br>%{x:.4f}<extra></extra>",
        )
    )
    title = METRICS[metric].title if metric in METRICS else metric
    figure.update_layout(
        xaxis_title=f"{title} (95% interval)",
        yaxis={"autorange": "reversed"},
        height=120 + 40 * max(1, len(entries)),
        margin={"l": 20, "r": 20, "t": 20, "b": 50},
        template="plotly_white",
    )
    return pio.to_html(figure, include_plotlyjs=False, full_html=False, div_id="leaderboard-chart",
                       config={"displaylogo": False, "responsive": True})
