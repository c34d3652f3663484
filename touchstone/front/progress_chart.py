"""The benchmark page's progress-over-time figure, drawn by ``static/touchstone/chart.js``."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import plotly.io as pio
from django.utils import timezone

from evaluation.metrics import METRICS
from touchstone.front.charts import TIER_COLOURS, plain_text


def _title(metric: str) -> str:
    return METRICS[metric].title if metric in METRICS else metric


def progress_chart(progress: dict) -> dict:
    """One step line per version through its records, each with its 95% interval as error bars.

    The last record's line runs on, dotted, to the version's freeze (or to now while it is
    open). A dotted vertical line marks each version's publication. Returns plotly's JSON (``data``,
    ``layout``, ``config``), or an empty dict when no version has a disclosed result yet.
    """
    figure = go.Figure()
    drawn = False
    now = timezone.now()
    for index, version in enumerate(progress["versions"]):
        colour = TIER_COLOURS[index % len(TIER_COLOURS)]
        if version["published_at"] is not None:
            figure.add_vline(
                x=version["published_at"].isoformat(),
                line={"dash": "dot", "color": colour, "width": 1},
                annotation_text=f"v{plain_text(version['version'])}",
                annotation_position="top left",
            )
        rows = version["records"]
        if not rows:
            continue
        drawn = True
        part = "open board, Ladder-released" if version["part"] == "feedback" else "final part"
        labels = [
            f"v{plain_text(version['version'])} ({part})<br>{plain_text(row['model_name'])} ({plain_text(row['team'])})"
            for row in rows
        ]
        values = [row["value"] for row in rows]
        highs = [row["ci_high"] if row["ci_high"] is not None else row["value"] for row in rows]
        lows = [row["ci_low"] if row["ci_low"] is not None else row["value"] for row in rows]
        figure.add_trace(
            go.Scatter(
                x=[row["date"].isoformat() for row in rows],
                y=values,
                name=f"v{plain_text(version['version'])} · {_title(version['metric'])} ({part})",
                mode="lines+markers",
                line={"shape": "hv", "color": colour},
                marker={"size": 9, "symbol": ["diamond" if row["is_baseline"] else "circle" for row in rows]},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [high - value for high, value in zip(highs, values, strict=True)],
                    "arrayminus": [value - low for value, low in zip(values, lows, strict=True)],
                    "thickness": 1.5,
                },
                customdata=[[label, low, high] for label, low, high in zip(labels, lows, highs, strict=True)],
                hovertemplate="%{customdata[0]}<br>%{y:.4f} [%{customdata[1]:.4f}, %{customdata[2]:.4f}]"
                "<br>%{x}<extra></extra>",
            )
        )
        # The last record holds until the version closes (its freeze) or until now while it is open.
        until = version["frozen_at"] or now
        if until > rows[-1]["date"]:
            figure.add_trace(
                go.Scatter(
                    x=[rows[-1]["date"].isoformat(), until.isoformat()],
                    y=[values[-1], values[-1]],
                    mode="lines",
                    line={"color": colour, "dash": "dot"},
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
    if not drawn:
        return {}
    metrics = sorted({_title(version["metric"]) for version in progress["versions"] if version["records"]})
    figure.update_layout(
        xaxis_title="Upload date",
        yaxis_title=f"Best {' / '.join(metrics)} so far (95% interval)",
        height=420,
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
    )
    found = json.loads(pio.to_json(figure))
    found["config"] = {"displaylogo": False, "responsive": True}
    return found
