"""Plotly figures of a submission's breakdowns, one per section of its page.

Each figure is built from the breakdowns dict the page shows (``disclosure.submission_breakdowns``)
and handed to the page as JSON, drawn by ``static/touchstone/chart.js``. Each figure also names
the kind of overlay it takes (``overlay``): ``static/touchstone/breakdown-overlay.js`` adds a
second submission's traces, built the same way from the ``breakdowns`` of its API record. Every
label passes through ``plain_text``, since plotly reads markup in labels.
"""

from __future__ import annotations

from touchstone.front.charts import TIER_COLOURS, plain_text

BAND = "rgba(31,95,168,0.15)"
CONFIG = {"displaylogo": False, "responsive": True}
# The same twelve colours in the same order as the overlay script, so a corruption keeps its colour.
PALETTE = (
    "#1f5fa8",
    "#b26a00",
    "#2e7d32",
    "#b42318",
    "#7b1fa2",
    "#546e7a",
    "#00838f",
    "#ad1457",
    "#6d4c41",
    "#827717",
    "#283593",
    "#ef6c00",
)


def _layout(xaxis_title: str, yaxis_title: str, **extra: object) -> dict:
    """A layout that fills its container's width: no fixed width, so it reads on a phone."""
    layout: dict = {
        "autosize": True,
        "height": 360,
        "margin": {"l": 50, "r": 10, "t": 10, "b": 50},
        "template": "plotly_white",
        "xaxis": {"title": {"text": xaxis_title}},
        "yaxis": {"title": {"text": yaxis_title}},
        "legend": {"orientation": "h", "y": -0.25},
    }
    layout.update(extra)
    return layout


def _figure(chart_id: str, title: str, data: list[dict], layout: dict, overlay: dict) -> dict:
    return {
        "id": chart_id,
        "data_id": f"{chart_id}-data",
        "title": title,
        "figure": {"data": data, "layout": layout, "config": CONFIG, "overlay": overlay},
    }


def _error_y(rows: list[dict], value: str = "value", low: str = "low", high: str = "high") -> dict:
    """Asymmetric error bars from each row's interval; a missing bound draws no bar."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [None if r[high] is None or r[value] is None else r[high] - r[value] for r in rows],
        "arrayminus": [None if r[low] is None or r[value] is None else r[value] - r[low] for r in rows],
    }


def severity_chart(corruptions: dict, name: str) -> dict:
    """Accuracy against severity, a line and its interval band per corruption, the baseline dashed."""
    data: list[dict] = []
    baseline = corruptions.get("baseline")
    for position, item in enumerate(corruptions["items"]):
        colour = PALETTE[position % len(PALETTE)]
        label = plain_text(item["name"])
        rows = item["severities"]
        x = [row["severity"] for row in rows]
        # The band is the upper bounds forward and the lower bounds back, filled as one shape.
        data.append(
            {
                "type": "scatter",
                "x": x + x[::-1],
                "y": [row["high"] for row in rows] + [row["low"] for row in rows][::-1],
                "fill": "toself",
                "fillcolor": _rgba(colour, 0.12),
                "line": {"width": 0},
                "hoverinfo": "skip",
                "showlegend": False,
                "legendgroup": label,
                "name": f"{label} 95% interval",
            }
        )
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": x,
                "y": [row["value"] for row in rows],
                "line": {"color": colour},
                "legendgroup": label,
                "name": label,
                "customdata": [[row["low"], row["high"], row["n"]] for row in rows],
                "hovertemplate": f"{label} severity %{{x}}: %{{y:.4f}} [%{{customdata[0]:.4f}}, "
                f"%{{customdata[1]:.4f}}], n = %{{customdata[2]}}<extra>{plain_text(name)}</extra>",
            }
        )
        if any(row.get("baseline") is not None for row in rows):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": x,
                    "y": [row.get("baseline") for row in rows],
                    "line": {"color": colour, "dash": "dash", "width": 1},
                    "legendgroup": label,
                    "showlegend": False,
                    "name": f"{label}: {plain_text(baseline or 'baseline')}",
                }
            )
    layout = _layout("Severity", "Accuracy", yaxis={"title": {"text": "Accuracy"}, "range": [0, 1.02]})
    layout["xaxis"]["dtick"] = 1
    layout["height"] = 420
    return _figure("severity-chart", "Accuracy against corruption severity", data, layout, {"kind": "severity"})


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def confusion_chart(per_class: dict, name: str) -> dict:
    """The confusion matrix as a heatmap: rows the true class, columns the predicted one."""
    classes = [plain_text(str(c)) for c in per_class["classes"]]
    data = [
        {
            "type": "heatmap",
            "z": per_class["confusion"],
            "x": classes,
            "y": classes,
            # From white (no items) to the site's blue (the most); the overlay's is orange.
            "colorscale": [[0, "#ffffff"], [1, TIER_COLOURS[0]]],
            "showscale": False,
            "texttemplate": "%{z}",
            "name": plain_text(name),
            "hovertemplate": "true %{y}, predicted %{x}: %{z} items<extra>%{fullData.name}</extra>",
        }
    ]
    layout = _layout("Predicted class", "True class")
    layout["xaxis"].update({"type": "category", "side": "bottom"})
    layout["yaxis"].update({"type": "category", "autorange": "reversed"})
    return _figure("confusion-chart", "Confusion matrix", data, layout, {"kind": "confusion"})


def reliability_chart(reliability: list[dict], name: str) -> dict:
    """Accuracy per confidence bin as bars with the bootstrap band, against the diagonal."""
    rows = [row for row in reliability if row["count"]]
    banded = [{"value": r["accuracy"], "low": r.get("band_low"), "high": r.get("band_high")} for r in rows]
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": [0, 1],
            "y": [0, 1],
            "line": {"color": "#999", "dash": "dot", "width": 1},
            "name": "perfect calibration",
            "hoverinfo": "skip",
        },
        {
            "type": "bar",
            "x": [(r["low"] + r["high"]) / 2 for r in rows],
            "y": [r["accuracy"] for r in rows],
            "width": [r["high"] - r["low"] for r in rows],
            "marker": {"color": _rgba(TIER_COLOURS[0], 0.6)},
            "error_y": _error_y(banded),
            "name": plain_text(name),
            "customdata": [[r["count"], r["confidence"]] for r in rows],
            "hovertemplate": "confidence %{customdata[1]:.3f}: accuracy %{y:.4f}, %{customdata[0]} items"
            "<extra>%{fullData.name}</extra>",
        },
    ]
    layout = _layout(
        "Confidence",
        "Accuracy",
        xaxis={"title": {"text": "Confidence"}, "range": [0, 1]},
        yaxis={"title": {"text": "Accuracy"}, "range": [0, 1.02]},
        barmode="overlay",
    )
    return _figure("reliability-chart", "Reliability diagram", data, layout, {"kind": "reliability"})


def slice_chart(position: int, column: str, table: dict, name: str) -> dict:
    """Accuracy per slice of one metadata column, bars with their intervals."""
    rows = table["slices"]
    data = [
        {
            "type": "bar",
            "x": [plain_text(str(r["slice"])) for r in rows],
            "y": [r["value"] for r in rows],
            "error_y": _error_y(rows),
            "marker": {"color": [_rgba(TIER_COLOURS[0], 0.35 if r.get("small") else 0.8) for r in rows]},
            "name": plain_text(name),
            "customdata": [[r["low"], r["high"], r["n"]] for r in rows],
            "hovertemplate": "%{x}: %{y:.4f} [%{customdata[0]:.4f}, %{customdata[1]:.4f}], n = %{customdata[2]}"
            "<extra>%{fullData.name}</extra>",
        }
    ]
    layout = _layout(plain_text(column), "Accuracy", barmode="group")
    layout["xaxis"]["type"] = "category"
    layout["yaxis"]["range"] = [0, 1.02]
    return _figure(
        f"slices-{position}-chart", f"Accuracy by {column}", data, layout, {"kind": "slices", "column": column}
    )


def drift_chart(drift: dict, name: str) -> dict:
    """Accuracy per era, oldest first, with its intervals."""
    rows = [row for row in drift["eras"] if row["n"]]
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": [plain_text(str(r["era"])) for r in rows],
            "y": [r["value"] for r in rows],
            "error_y": _error_y(rows),
            "line": {"color": TIER_COLOURS[0]},
            "name": plain_text(name),
            "customdata": [[r["low"], r["high"], r["n"]] for r in rows],
            "hovertemplate": "%{x}: %{y:.4f} [%{customdata[0]:.4f}, %{customdata[1]:.4f}], n = %{customdata[2]}"
            "<extra>%{fullData.name}</extra>",
        }
    ]
    layout = _layout("Era", "Accuracy")
    layout["xaxis"]["type"] = "category"
    return _figure("drift-chart", "Accuracy per era", data, layout, {"kind": "drift"})


def adversarial_chart(adversarial: dict, name: str) -> dict:
    """Robust accuracy against the attack's eps, one line per attack, with intervals."""
    data = []
    names = sorted({attack["name"] for attack in adversarial["attacks"]})
    for position, attack in enumerate(names):
        rows = sorted((a for a in adversarial["attacks"] if a["name"] == attack), key=lambda a: a["eps"])
        label = plain_text(attack.upper())
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [r["eps"] for r in rows],
                "y": [r["value"] for r in rows],
                "error_y": _error_y(rows),
                "line": {"color": PALETTE[position % len(PALETTE)]},
                "legendgroup": label,
                "name": label,
                "customdata": [[r["low"], r["high"], r["n"]] for r in rows],
                "hovertemplate": f"{label} ε = %{{x}}: %{{y:.4f}} [%{{customdata[0]:.4f}}, "
                f"%{{customdata[1]:.4f}}], n = %{{customdata[2]}}<extra>{plain_text(name)}</extra>",
            }
        )
    layout = _layout("ε (L∞)", "Robust accuracy")
    layout["yaxis"]["range"] = [0, 1.02]
    return _figure("adversarial-chart", "Robust accuracy against ε", data, layout, {"kind": "adversarial"})


def breakdown_charts(breakdowns: dict | None, name: str) -> dict:
    """Every figure the breakdowns have data for, by section; a missing or null section has none."""
    if not breakdowns:
        return {}
    charts: dict = {}
    corruptions = breakdowns.get("corruptions")
    if corruptions and corruptions.get("items"):
        charts["severity"] = severity_chart(corruptions, name)
    if breakdowns.get("per_class"):
        charts["confusion"] = confusion_chart(breakdowns["per_class"], name)
    if any(row["count"] for row in breakdowns.get("reliability") or []):
        charts["reliability"] = reliability_chart(breakdowns["reliability"], name)
    charts["slices"] = {
        column: slice_chart(position, column, table, name)
        for position, (column, table) in enumerate((breakdowns.get("slices") or {}).items())
        if table["slices"]
    }
    drift = breakdowns.get("drift")
    if drift and any(row["n"] for row in drift["eras"]):
        charts["drift"] = drift_chart(drift, name)
    adversarial = breakdowns.get("adversarial")
    if adversarial and adversarial.get("attacks"):
        charts["adversarial"] = adversarial_chart(adversarial, name)
    return charts
