"""Full exports as files: a version's board, and one submission's report, in CSV and JSON.

Every number comes from ``touchstone.rankings.disclosure``, as on the pages and the other
endpoints: an open version's board holds its released entries with their released values, a
held submission's report holds no score. Each file names its benchmark, version and part: as
top-level keys in JSON, as the first three columns of every CSV row, and in the file name.
"""

from __future__ import annotations

import csv
import io

from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from touchstone.api.renderers import spreadsheet_safe
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings import disclosure
from touchstone.rankings.breakdowns import summary_of
from touchstone.rankings.queries import SUMMARY_COLUMNS, leaderboard_rows
from touchstone.submissions.models import Submission

BOUNDS = ("value", "ci_low", "ci_high")


def board_export(version: BenchmarkVersion) -> dict:
    """The version's public board with every metric and interval it shows, as one document."""
    return disclosure.leaderboard(version)


def board_rows(board: dict) -> list[dict]:
    """One CSV row per entry: benchmark, version and part, then every column of the board."""
    rows = []
    for entry, row in zip(board["entries"], leaderboard_rows(board), strict=True):
        gap = entry.get("difference_to_leader") or {}
        rows.append(
            {
                "benchmark": board["benchmark"],
                "version": board["version"],
                "part": board["part"],
                **row,
                "rank_set_lower": entry["rank_lower_simultaneous"],
                "rank_set_upper": entry["rank_upper_simultaneous"],
                "p_value_vs_leader": entry.get("p_value_vs_leader"),
                "p_value_vs_next": entry.get("p_value_vs_next"),
                **{f"difference_to_leader_{bound}": gap.get(bound) for bound in BOUNDS},
            }
        )
    return rows


def submission_report(submission: Submission) -> dict:
    """Everything the caller may see of a submission's results, as one document.

    Metrics with intervals, the Ladder's verdict, the place on the board, the summary of the
    breakdowns and the public provenance record, each as disclosed (absent ones are null).
    """
    version = submission.version
    scores = disclosure.submission_scores(submission)
    breakdowns = disclosure.submission_breakdowns(submission)
    run = submission.scored_run()
    return {
        "benchmark": version.benchmark.slug,
        "version": version.version,
        "part": scores["part"],
        "submission": submission.pk,
        "model_name": submission.model_name,
        "team": submission.team,
        "is_baseline": submission.is_baseline,
        "status": submission.status,
        "sha256": submission.sha256,
        "created_at": submission.created_at.isoformat(),
        "metrics": scores["metrics"],
        "ladder": scores["ladder"],
        "ranking": disclosure.submission_ranking(submission),
        "summary": None if breakdowns is None else summary_of(breakdowns),
        "provenance": None if run is None else {"attempt": run.attempt, **run.public_provenance()},
    }


def _flat(prefix: str, value: object) -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _flat(f"{prefix}.{key}" if prefix else key, item)]
    if isinstance(value, list):
        return [(prefix, "; ".join(str(item) for item in value))]
    return [(prefix, value)]


REPORT_COLUMNS = ("benchmark", "version", "part", "submission", "section", "name", "value", "ci_low", "ci_high")


def report_rows(report: dict) -> list[dict]:
    """One CSV row per figure of a report: section, name, value and interval."""
    head = {key: report[key] for key in ("benchmark", "version", "part", "submission")}

    def row(section: str, name: str, value: object, low: object = None, high: object = None) -> dict:
        return {**head, "section": section, "name": name, "value": value, "ci_low": low, "ci_high": high}

    rows = [row("submission", key, report[key]) for key in ("model_name", "team", "is_baseline", "status", "sha256")]
    rows.append(row("submission", "created_at", report["created_at"]))
    for name, interval in report["metrics"].items():
        rows.append(row("metric", name, interval["value"], interval["ci_low"], interval["ci_high"]))
    for key, value in (report["ladder"] or {}).items():
        rows.append(row("ladder", key, value))
    ranking = report["ranking"] or {}
    if ranking:
        rows.append(row("ranking", "rank", ranking["rank"], ranking["rank_lower"], ranking["rank_upper"]))
        rows += [row("ranking", key, ranking[key]) for key in ("tier", "p_value_vs_leader", "feedback_rank")]
    for name in SUMMARY_COLUMNS:
        found = (report["summary"] or {}).get(name)
        if found:
            label = f"{name} ({found['slice']})" if "slice" in found else name
            rows.append(row("summary", label, found.get("value"), found.get("low"), found.get("high")))
    for name, value in _flat("", report["provenance"] or {}):
        rows.append(row("provenance", name, value))
    return rows


class _CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"
    marker = ""

    def rows(self, data: dict) -> list[dict]:
        raise NotImplementedError

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        buffer = io.StringIO()
        if not isinstance(data, dict) or self.marker not in data:
            detail = data.get("detail", "") if isinstance(data, dict) else data
            csv.writer(buffer, lineterminator="\n").writerows([["detail"], [spreadsheet_safe(str(detail))]])
            return buffer.getvalue().encode()
        rows = self.rows(data)
        writer = csv.DictWriter(buffer, fieldnames=self.columns(data, rows), lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
        return buffer.getvalue().encode()

    def columns(self, data: dict, rows: list[dict]) -> list[str]:
        raise NotImplementedError


class BoardCSVRenderer(_CSVRenderer):
    marker = "entries"

    def rows(self, data: dict) -> list[dict]:
        # An empty board is one row naming its benchmark, version and part, and nothing else.
        return board_rows(data) or [{key: data[key] for key in ("benchmark", "version", "part")}]

    def columns(self, data: dict, rows: list[dict]) -> list[str]:
        return list(rows[0])


class ReportCSVRenderer(_CSVRenderer):
    marker = "submission"

    def rows(self, data: dict) -> list[dict]:
        return report_rows(data)

    def columns(self, data: dict, rows: list[dict]) -> list[str]:
        return list(REPORT_COLUMNS)


def export_name(kind: str, slug: str, version: str, part: str | None, extension: str, pk: int | None = None) -> str:
    """``<slug>-<version>-<part>-<kind>[-<id>].<extension>``: the file says what it holds."""
    middle = f"-{pk}" if pk is not None else ""
    return f"{slug}-{version}-{part or 'unscored'}-{kind}{middle}.{extension}"


def export_format(request: Request) -> str:
    """The extension of the file a request asked for: ``csv`` when its renderer is the CSV one."""
    renderer = getattr(request, "accepted_renderer", None)
    return "csv" if renderer is not None and renderer.format == "csv" else "json"
