"""CSV for leaderboard and breakdown downloads (``?format=csv``)."""

from __future__ import annotations

import csv
import io

from rest_framework.renderers import BaseRenderer

from touchstone.rankings.queries import leaderboard_rows

# A spreadsheet reads a cell that starts with one of these as a formula (tab and carriage
# return can hide one), so a model named =HYPERLINK(...) would run in a visitor's spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """Prefix text that a spreadsheet would run as a formula with ``'``, as OWASP recommends.

    Numbers are left alone: a negative score is data, and quoting it would turn it into text.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class LeaderboardCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        buffer = io.StringIO()
        if not isinstance(data, dict) or "entries" not in data:
            # Errors (for example a 404) are rendered as a one-column CSV rather than failing.
            detail = data.get("detail", "") if isinstance(data, dict) else data
            csv.writer(buffer, lineterminator="\n").writerows([["detail"], [spreadsheet_safe(str(detail))]])
            return buffer.getvalue().encode()
        rows = leaderboard_rows(data)
        # A board with no entry yet is still a CSV file: its header row, which also names the columns.
        columns = list(rows[0]) if rows else list(leaderboard_rows({**data, "entries": [{"metrics": {}}]})[0])
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
        return buffer.getvalue().encode()


BREAKDOWN_COLUMNS = ("section", "group", "condition", "n", "value", "low", "high")


def _row(section: str, group: object, condition: object = "", found: dict | None = None, **values) -> dict:
    row = {"section": section, "group": group, "condition": condition, "n": None, "value": None, "low": None}
    row["high"] = None
    row.update({key: (found or {}).get(key) for key in ("n", "value", "low", "high")})
    row.update(values)
    return row


def breakdown_rows(found: dict) -> list[dict]:
    """One row per figure of a submission's breakdowns: section, group, condition, n, value, interval."""
    rows = [_row(f"calibration ({found['part']} part)", name, found=found["calibration"][name])
            for name in ("ece", "ece_equal_mass", "brier", "nll")]  # fmt: skip
    rows += [_row("class recall", row["class"], found=row) for row in found["per_class"]["recall"]]
    for column, table in found["slices"].items():
        rows += [_row("slice", f"{column}={row['slice']}", found=row) for row in table["slices"]]
    if found.get("drift"):
        rows += [_row("era", row["era"], found=row) for row in found["drift"]["eras"]]
    for row in found["reliability"]:
        bin_name = f"({row['low']:.4f}, {row['high']:.4f}]"
        rows.append(_row("reliability", bin_name, n=row["count"], value=row["accuracy"], low=row["band_low"],
                         high=row["band_high"]))  # fmt: skip
    corruptions = found.get("corruptions")
    if corruptions:
        for name in ("mean_accuracy", "mce", "relative_mce", "flip_rate", "worst_case"):
            rows.append(_row("corruption suite", name, found=corruptions[name]))
        for item in corruptions["items"]:
            rows.append(_row("corruption error", item["name"], value=item["ce"]))
            rows.append(_row("relative corruption error", item["name"], value=item["relative_ce"]))
            for row in item["severities"]:
                rows.append(_row("corruption accuracy", item["name"], f"severity {row['severity']}", found=row))
                rows.append(_row("corruption flip rate", item["name"], f"severity {row['severity']}",
                                 found=row["flip_rate"]))  # fmt: skip
    adversarial = found.get("adversarial")
    if adversarial:
        if not adversarial["attackable"]:
            rows.append(_row("attack", "not attackable", adversarial["reason"] or ""))
        for row in adversarial["attacks"]:
            rows.append(_row("attack accuracy", row["name"], f"eps {row['eps']:g}", found=row))
            rows.append(_row("attack flip rate", row["name"], f"eps {row['eps']:g}", found=row["flip_rate"]))
    stability = found.get("stability")
    if stability:
        rows.append(_row("saliency stability", "overall", found=stability["overall"]))
        rows += [_row("saliency stability", row["name"], found=row) for row in stability["corruptions"]]
    cost = found.get("cost")
    if cost:
        rows.append(_row("cost", "latency_ms", found=cost["latency_ms"]))
        for name in ("latency_ms_p95", "throughput_per_second", "parameters", "file_size_bytes", "peak_memory_bytes"):
            rows.append(_row("cost", name, value=cost[name]))
    return rows


class BreakdownsCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if not isinstance(data, dict) or "calibration" not in data:
            detail = data.get("detail", "") if isinstance(data, dict) else data
            writer.writerows([["detail"], [spreadsheet_safe(str(detail))]])
            return buffer.getvalue().encode()
        writer.writerow(BREAKDOWN_COLUMNS)
        for row in breakdown_rows(data):
            writer.writerow([spreadsheet_safe(row[column]) for column in BREAKDOWN_COLUMNS])
        return buffer.getvalue().encode()
