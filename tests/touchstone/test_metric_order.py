"""Each number on a leaderboard sits under the metric it measures, on SQLite and on PostgreSQL.

PostgreSQL stores an entry's ``metrics`` as ``jsonb``, which gives keys back shortest first
(``ece``, ``nll``, ``brier``, ``accuracy``...), not in the spec's order; SQLite keeps the order
they were written in. Run these with ``TOUCHSTONE_TEST_DATABASE=postgres`` to see the production
database's order.
"""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test import Client

from tests.touchstone.conftest import upload
from touchstone.rankings.models import LeaderboardEntry
from touchstone.rankings.services import freeze_version
from touchstone.submissions.models import Submission
from touchstone.submissions.scoring import score_submission
from touchstone.submissions.services import submit_model

# These tests are about what is shown: each distinct model runs once per session in the real
# sandbox and its report is reused (see reused_sandbox_runs).
pytestmark = pytest.mark.usefixtures("reused_sandbox_runs")


class LeaderboardTable(HTMLParser):
    """The metric each column header names, and each row's cells by column."""

    def __init__(self) -> None:
        super().__init__()
        self.header: list[str | None] = []
        self.rows: list[list[str | None]] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self._inside = attributes.get("id") == "leaderboard-table"
        elif self._inside and tag == "th":
            # The summary columns explain themselves in their title; they name no metric.
            summary = "summary" in (attributes.get("class") or "").split()
            self.header.append(None if summary else attributes.get("title"))
        elif self._inside and tag == "tr" and "data-submission" in attributes:
            self.rows.append([])
        elif self._inside and tag == "td" and self.rows:
            self.rows[-1].append(attributes.get("data-value"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._inside = False


def cells_by_metric(version) -> list[dict[str, str | None]]:
    """Every row of the version's page as metric name → the cell under that metric's header."""
    response = Client().get(f"/benchmarks/digits/{version.version}/")
    assert response.status_code == 200
    table = LeaderboardTable()
    table.feed(response.content.decode())
    assert table.rows, "the page shows no leaderboard table"
    for row in table.rows:
        assert len(row) == len(table.header), "a row has more or fewer cells than the table has columns"
    return [
        {name: cell for name, cell in zip(table.header, row, strict=True) if name is not None} for row in table.rows
    ]


def store_entry(version, owner, metrics: dict, *, name: str) -> LeaderboardEntry:
    """A scored submission and its leaderboard entry (rank 1) written by hand with these metrics."""
    submission = Submission.objects.create(
        owner=owner,
        version=version,
        model_name=name,
        team=owner.get_username(),
        model_path="models/none.pt",
        model_format="torchscript",
        sha256="0" * 64,
        size_bytes=1,
        status=Submission.Status.SCORED,
    )
    return LeaderboardEntry.objects.create(
        version=version,
        submission=submission,
        rank=1,
        rank_lower=1,
        rank_upper=1,
        rank_lower_simultaneous=1,
        rank_upper_simultaneous=1,
        tier=1,
        metrics=metrics,
    )


def test_on_a_frozen_board_each_cell_shows_the_metric_its_header_names(version, researcher, good_model_bytes):
    submission = submit_model(
        owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="Centroid"
    )
    score_submission(submission_id=submission.pk)
    freeze_version(version=version)
    final = {r.metric: r.value for r in submission.metric_results.filter(part="final", condition="clean")}
    assert set(final) == set(version.report_metrics)
    jsonb_order = sorted(final, key=lambda name: (len(name), name))
    assert [final[name] for name in jsonb_order] != [final[name] for name in version.report_metrics], (
        "the values would read the same in jsonb's order, so this model could not show a misplaced cell"
    )

    (row,) = cells_by_metric(version)
    assert list(row) == version.report_metrics
    assert {name: float(cell) for name, cell in row.items()} == pytest.approx(final, rel=1e-12)

    csv_response = Client().get(f"/api/v1/benchmarks/digits/versions/{version.version}/leaderboard/?format=csv")
    (csv_row,) = csv.DictReader(io.StringIO(csv_response.content.decode()))
    assert {name: float(csv_row[f"{name}_value"]) for name in final} == pytest.approx(final, rel=1e-12)


def test_cells_follow_the_spec_whatever_order_the_stored_metrics_come_in(version, researcher):
    # Stored in reverse, which is also the order SQLite gives back; jsonb reorders it again.
    # Either way the page must not depend on it.
    spec_order = version.report_metrics
    values = {name: 0.1 * (position + 1) for position, name in enumerate(spec_order)}
    stored = {
        name: {"value": values[name], "ci_low": values[name] - 0.01, "ci_high": values[name] + 0.01}
        for name in reversed(spec_order)
    }
    version.freeze()
    store_entry(version, researcher, stored, name="Stored by hand")

    (row,) = cells_by_metric(version)

    assert list(row) == spec_order
    assert {name: float(cell) for name, cell in row.items()} == pytest.approx(values)


def test_the_api_gives_each_entrys_metrics_in_column_order(version, researcher):
    version.freeze()
    stored = {name: {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6} for name in reversed(version.report_metrics)}
    store_entry(version, researcher, stored, name="Stored by hand")

    board = Client().get(f"/api/v1/benchmarks/{version.benchmark.slug}/versions/{version.version}/leaderboard/").json()

    (entry,) = board["entries"]
    assert board["metrics"] == version.report_metrics
    assert list(entry["metrics"]) == board["metrics"]


def test_a_metric_missing_from_an_entry_leaves_an_empty_cell_in_its_own_column(version, researcher):
    version.freeze()
    # The primary metric is always stored (the chart draws it); any other may be absent.
    missing = version.report_metrics[-1]
    kept = [name for name in version.report_metrics if name != missing]
    store_entry(
        version,
        researcher,
        {name: {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6} for name in kept},
        name="Partly scored",
    )

    (row,) = cells_by_metric(version)

    assert row[missing] == ""
    assert all(row[name] == "0.5" for name in kept)


def test_postgresql_gives_stored_metrics_back_in_its_own_order(version, researcher):
    if connection.vendor != "postgresql":
        pytest.skip("shows PostgreSQL's jsonb key order; run with TOUCHSTONE_TEST_DATABASE=postgres")
    written = {name: {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6} for name in version.report_metrics}
    entry = store_entry(version, researcher, written, name="Order")

    read = LeaderboardEntry.objects.get(pk=entry.pk).metrics

    # jsonb sorts keys by length, then bytewise; this is why nothing may walk the dict for order.
    assert list(read) == sorted(written, key=lambda name: (len(name), name))
    assert list(read) != version.report_metrics
    assert read == written  # the same content, only the order changes
