"""The leaderboard's summary columns: how each entry breaks, in one line per entry.

Each entry of a board carries ``summary`` (corrupted accuracy, mCE, adversarial accuracy at the
spec's main eps, ECE, worst slice, latency), each a value with its 95% interval or null where it
is not available (no corruption suite, not attackable, not computed yet). A column is shown when
at least one entry has a value for it; a null cell reads "—" and sorts last.
"""

from __future__ import annotations

from dataclasses import dataclass

MISSING = "—"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    explanation: str
    digits: int | None  # decimals shown; None for two significant figures


COLUMNS = (
    Column(
        "corrupted_accuracy",
        "Corrupted accuracy",
        "Accuracy averaged over every corruption and severity of the suite, with its 95% interval.",
        4,
    ),
    Column(
        "mce",
        "mCE",
        "Mean corruption error: the entry's errors under each corruption relative to the baseline's, "
        "averaged over corruptions (below 1 is more robust than the baseline).",
        3,
    ),
    Column(
        "adversarial_accuracy",
        "Adversarial accuracy",
        "Accuracy under the spec's main attack at its main ε, the attack aimed at the model's own clean prediction.",
        4,
    ),
    Column("ece", "ECE", "Expected calibration error over 15 equal-width confidence bins (lower is better).", 4),
    Column(
        "worst_slice",
        "Worst slice",
        "Accuracy on the entry's worst slice of 30 items or more, with the slice's name.",
        4,
    ),
    Column("latency_ms", "Latency (ms)", "Median latency per item in the sandbox, to two significant figures.", None),
)


def two_figures(value: float) -> str:
    """A number to two significant figures, without an exponent where one is not needed: 8,300; 0.12."""
    rounded = float(f"{value:.2g}")
    if rounded == int(rounded):
        return f"{int(rounded):,}"
    return f"{rounded:g}"


def number(value: float, digits: int | None) -> str:
    """``value`` with ``digits`` decimals, or to two significant figures when ``digits`` is None."""
    if digits is None:
        return two_figures(value)
    return f"{value:.{digits}f}"


def _cell(column: Column, found: dict | None) -> dict:
    if not found or found.get("value") is None:
        return {"key": column.key, "sort": "", "text": MISSING, "interval": "", "note": ""}
    low, high = found.get("low"), found.get("high")
    interval = ""
    if low is not None and high is not None:
        interval = f"[{number(low, column.digits)}, {number(high, column.digits)}]"
    return {
        "key": column.key,
        "sort": repr(float(found["value"])),
        "text": number(found["value"], column.digits),
        "interval": interval,
        "note": found.get("slice") or "",
    }


def summary_columns(entries: list[dict]) -> list[dict]:
    """The summary columns the board shows: those with a value for at least one entry.

    The adversarial column's header names the attack and ε, taken from the first entry that
    has one (the spec's main attack is the same for every entry of a version).
    """
    shown = []
    for column in COLUMNS:
        parts = [(entry.get("summary") or {}).get(column.key) for entry in entries]
        found = [part for part in parts if part and part.get("value") is not None]
        if not found:
            continue
        title = column.title
        if column.key == "adversarial_accuracy" and found[0].get("name"):
            title = f"{title} ({str(found[0]['name']).upper()}, ε = {found[0].get('eps'):g})"
        shown.append({"key": column.key, "title": title, "explanation": column.explanation, "column": column})
    return shown


def with_summary_cells(entries: list[dict], columns: list[dict]) -> list[dict]:
    """Each entry with ``summary_cells``: one cell per shown column, in column order."""
    return [
        {
            **entry,
            "summary_cells": [
                _cell(shown["column"], (entry.get("summary") or {}).get(shown["key"])) for shown in columns
            ],
        }
        for entry in entries
    ]
