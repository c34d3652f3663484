"""The leaderboard's summary columns and the submission page's charts, through Django's test client.

The summaries and breakdowns are hand-built in the documented shape (``breakdown_fixture``) and
handed to the pages in place of the computed ones, so each test is about what the page shows.
"""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.touchstone.breakdown_fixture import full_breakdowns, summary, without
from tests.touchstone.ledger import probabilities_of, record_probabilities
from touchstone.rankings import disclosure
from touchstone.rankings.models import LadderRelease
from touchstone.rankings.services import freeze_version, recompute_leaderboard
from touchstone.submissions.models import Submission

pytestmark = pytest.mark.usefixtures("empty_cache")

CHARTS_AND_TABLES = {
    "severity-chart": "corruption-table",
    "adversarial-chart": "adversarial-table",
    "confusion-chart": "confusion",
    "slices-0-chart": "slices-ink",
    "drift-chart": "drift",
    "reliability-chart": "reliability",
}


@pytest.fixture
def board(version, hidden) -> dict:
    """Two teams with a released entry each; ``ada``'s second, barely different model is held."""
    ada = get_user_model().objects.create_user("ada")
    grace = get_user_model().objects.create_user("grace")
    released = record_probabilities(version, ada, hidden.wrong_on(40), name="Ada's model")
    other = record_probabilities(version, grace, hidden.wrong_on(60), name="Grace's model")
    predictions = hidden.predictions_wrong_on(40)
    predictions[hidden.feedback[40:43]] = (hidden.labels[hidden.feedback[40:43]] + 2) % 10
    held = record_probabilities(version, ada, probabilities_of(predictions), name="Ada's held model")
    recompute_leaderboard(version=version)
    assert {r.submission_id: r.improved for r in LadderRelease.objects.all()} == {
        released.pk: True,
        other.pk: True,
        held.pk: False,
    }
    return {"released": released, "other": other, "held": held}


def with_summaries(monkeypatch, make_summary) -> None:
    """Every board entry carries ``make_summary(entry)`` as its summary."""
    real = disclosure.leaderboard

    def summarised(version):
        payload = real(version)
        return {**payload, "entries": [{**entry, "summary": make_summary(entry)} for entry in payload["entries"]]}

    monkeypatch.setattr(disclosure, "leaderboard", summarised)


def board_page(version) -> str:
    response = Client().get(f"/benchmarks/digits/{version.version}/")
    assert response.status_code == 200
    return response.content.decode()


def header_cells(page: str) -> list[str]:
    head = re.search(r'<table class="leaderboard sortable" id="leaderboard-table">\s*<thead>(.*?)</thead>', page, re.S)
    return [
        unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<th[^>]*>(.*?)</th>", head[1], re.S)
    ]


def test_the_open_board_shows_each_summary_column_with_its_value_and_interval(monkeypatch, version, board):
    with_summaries(monkeypatch, lambda entry: summary(rank=entry["rank"]))
    page = board_page(version)
    headers = header_cells(page)
    for title in (
        "Corrupted accuracy",
        "mCE",
        "Adversarial accuracy (PGD, ε = 0.1)",
        "ECE",
        "Worst slice",
        "Latency (ms)",
    ):
        assert title in headers, headers
    # The rank-set and interval columns are still there, before the summary.
    assert headers.index("Rank set") < headers.index("Corrupted accuracy")
    first = summary(rank=1)
    corrupted = first["corrupted_accuracy"]["value"]
    assert (
        f'<td data-value="{corrupted!r}" class="summary summary-corrupted_accuracy">'
        f'{corrupted:.4f} <span class="ci">[{corrupted - 0.03:.4f}, {corrupted + 0.03:.4f}]</span></td>'
    ) in page
    assert (
        f'data-value="{first["mce"]["value"]!r}" class="summary summary-mce">0.900 <span class="ci">[0.850, 0.950]</span>'
    ) in page
    assert '<span class="slice-name">ink=thick</span>' in page
    assert '0.12 <span class="ci">[0.11, 0.13]</span>' in page  # latency to two significant figures


def test_a_missing_summary_part_reads_as_a_dash_and_a_column_nobody_has_is_left_out(monkeypatch, version, board):
    def partial(entry):
        found = summary(rank=entry["rank"])
        found["latency_ms"] = None
        if entry["rank"] == 1:
            found["adversarial_accuracy"] = None
        return found

    with_summaries(monkeypatch, partial)
    page = board_page(version)
    headers = header_cells(page)
    assert "Latency (ms)" not in headers and 'data-column="summary-latency_ms"' not in page
    assert any(h.startswith("Adversarial accuracy") for h in headers)
    assert '<td data-value="" class="summary summary-adversarial_accuracy">—</td>' in page


def test_a_board_scored_without_the_suite_shows_only_the_columns_its_breakdowns_give(version, board):
    # The recompute summarised each entry from its breakdowns: calibration and slices need only
    # the clean pass, corruptions, attacks and cost need the suite and the run's timings.
    page = board_page(version)
    headers = header_cells(page)
    assert "ECE" in headers and any(header.startswith("Worst slice") for header in headers)
    assert not any(header.startswith(("Corrupted accuracy", "mCE", "Adversarial", "Latency")) for header in headers)
    assert 'id="column-chooser"' in page


def test_the_column_chooser_offers_every_column_but_rank_and_model_and_is_hidden_without_script(
    monkeypatch, version, board
):
    with_summaries(monkeypatch, lambda entry: summary(rank=entry["rank"]))
    page = board_page(version)
    chooser = re.search(r'<details id="column-chooser"[^>]*>(.*?)</details>', page, re.S)
    assert re.search(r'<details id="column-chooser"[^>]*\bhidden\b', page)
    offered = re.findall(r'<input type="checkbox" data-column="([^"]+)" checked>', chooser[1])
    headed = re.findall(r'<th [^>]*data-column="([^"]+)"', page)
    assert offered == headed
    assert {"rank-set", "summary-mce", "summary-latency_ms", "metric-accuracy", "team"} <= set(offered)
    assert "/static/touchstone/column-chooser.js" in page


def test_the_frozen_board_shows_the_summary_columns_too(monkeypatch, version, board):
    freeze_version(version=version)
    with_summaries(monkeypatch, lambda entry: summary(rank=entry["rank"]))
    page = board_page(version)
    headers = header_cells(page)
    assert "Open-board rank" in headers and "ECE" in headers
    assert 'data-column="difference-to-leader"' in page


def submission_page(monkeypatch, submission, breakdowns) -> str:
    monkeypatch.setattr(disclosure, "submission_breakdowns", lambda found: breakdowns)
    response = Client().get(f"/submissions/{submission.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def chart_data(page: str, chart_id: str) -> dict:
    block = re.search(rf'<script id="{chart_id}-data" type="application/json">(.*?)</script>', page, re.S)
    assert block, f"no data block for {chart_id}"
    return json.loads(block[1])


def test_every_chart_comes_with_its_data_and_a_table_beneath_it(monkeypatch, board):
    page = submission_page(monkeypatch, board["released"], full_breakdowns())
    for chart, table in CHARTS_AND_TABLES.items():
        assert f'<div id="{chart}" class="chart">' in page
        assert page.index(f'id="{chart}"') < page.index(f'id="{table}"'), f"{table} is not beneath {chart}"
        figure = chart_data(page, chart)
        assert figure["config"]["responsive"] is True and "width" not in figure["layout"]
        assert any(trace.get("y") or trace.get("z") for trace in figure["data"])
    for table in ("calibration", "stability-table", "cost-table"):
        assert f'id="{table}"' in page
    assert "/static/vendor/plotly.min.js" in page and "/static/touchstone/breakdown-overlay.js" in page


def test_the_severity_chart_draws_the_table_numbers_and_the_baseline_dashed(monkeypatch, board):
    breakdowns = full_breakdowns()
    page = submission_page(monkeypatch, board["released"], breakdowns)
    traces = chart_data(page, "severity-chart")["data"]
    item = breakdowns["corruptions"]["items"][0]
    lines = [t for t in traces if t.get("name") == item["name"]]
    assert lines[0]["y"] == [row["value"] for row in item["severities"]]
    dashed = [t for t in traces if t.get("legendgroup") == item["name"] and t.get("line", {}).get("dash") == "dash"]
    assert dashed[0]["y"] == [row["baseline"] for row in item["severities"]]
    assert f"<td>{item['severities'][0]['value']:.4f}</td>" in page


def test_sections_without_data_are_left_out(monkeypatch, board):
    breakdowns = without(full_breakdowns(), "corruptions", "adversarial", "stability", "drift", "calibration", "cost")
    page = submission_page(monkeypatch, board["released"], breakdowns)
    for gone in (
        "severity-chart",
        "corruption-table",
        "adversarial-chart",
        "stability-table",
        "drift-chart",
        "cost-table",
    ):
        assert f'id="{gone}"' not in page, gone
    assert 'id="calibration"' not in page
    for kept in ("confusion-chart", "slices-0-chart", "reliability-chart"):
        assert f'id="{kept}"' in page


def test_no_breakdowns_means_no_chart_and_no_plotly(monkeypatch, board):
    page = submission_page(monkeypatch, board["held"], None)
    assert 'id="breakdowns"' not in page and "plotly.min.js" not in page and "-chart-data" not in page


def test_a_model_without_usable_gradients_is_marked_not_attackable_without_a_chart(monkeypatch, board):
    breakdowns = full_breakdowns()
    breakdowns["adversarial"] = {
        "attackable": False,
        "reason": "its input gradients are all zero",
        "main": None,
        "attacks": [],
    }
    page = submission_page(monkeypatch, board["released"], breakdowns)
    assert 'id="not-attackable"' in page and "its input gradients are all zero" in page
    assert 'id="adversarial-chart"' not in page


def test_labels_reach_plotly_escaped(monkeypatch, board):
    breakdowns = full_breakdowns()
    breakdowns["slices"]["ink"]["slices"][0]["slice"] = '<a href="https://example.org">x</a>'
    page = submission_page(monkeypatch, board["released"], breakdowns)
    assert chart_data(page, "slices-0-chart")["data"][0]["x"][0] == '&lt;a href="https://example.org"&gt;x&lt;/a&gt;'
    assert '<a href="https://example.org">' not in page


def overlay_options(page: str) -> list[int]:
    select = re.search(r'<select id="overlay-choice">(.*?)</select>', page, re.S)
    return [int(value) for value in re.findall(r'<option value="(\d+)"', select[1])] if select else []


def test_the_overlay_list_holds_only_submissions_whose_breakdowns_are_shown(version, board):
    page = Client().get(f"/submissions/{board['released'].pk}/").content.decode()
    # Open version: Grace's released entry, not Ada's held one, not the page's own submission.
    assert overlay_options(page) == [board["other"].pk]
    assert f'data-api="/api/v1/submissions/{board["other"].pk}/"' in page
    shown = {s.pk for s in Submission.objects.filter(version=version) if disclosure.submission_breakdowns(s)}
    assert {s.pk for s in disclosure.submissions_with_breakdowns(version)} == shown
    freeze_version(version=version)
    page = Client().get(f"/submissions/{board['released'].pk}/").content.decode()
    assert overlay_options(page) == [board["other"].pk, board["held"].pk]
    shown = {s.pk for s in Submission.objects.filter(version=version) if disclosure.submission_breakdowns(s)}
    assert {s.pk for s in disclosure.submissions_with_breakdowns(version)} == shown == {s.pk for s in board.values()}


def test_a_withdrawn_submission_is_not_offered_for_overlay(version, board):
    Submission.objects.get(pk=board["other"].pk).withdraw()
    page = Client().get(f"/submissions/{board['released'].pk}/").content.decode()
    assert overlay_options(page) == []


def test_a_running_submission_shows_its_progress_message(version):
    owner = get_user_model().objects.create_user("ada")
    submission = Submission.objects.create(
        owner=owner,
        version=version,
        model_name="running",
        team="ada",
        model_path="unused.pt",
        model_format="torchscript",
        sha256="0" * 64,
        size_bytes=1,
        status=Submission.Status.RUNNING,
    )
    submission.report_progress(0.25, "condition 3 of 12: gaussian_noise severity 3")
    client = Client()
    client.force_login(owner)
    page = client.get(f"/submissions/{submission.pk}/").content.decode()
    assert re.search(r'<span id="progress-message"[^>]*>condition 3 of 12: gaussian_noise severity 3</span>', page)
    assert "/static/touchstone/submission-status.js" in page


def test_the_cost_table_gives_two_significant_figures_and_a_dash_for_what_is_unknown(monkeypatch, board):
    breakdowns = full_breakdowns()
    breakdowns["cost"] = {**breakdowns["cost"], "parameters": None, "throughput_per_second": 8300.0}
    page = submission_page(monkeypatch, board["released"], breakdowns)
    table = re.search(r'<table id="cost-table".*?</table>', page, re.S)[0]
    cells = [unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td>(.*?)</td>", table, re.S)]
    assert dict(zip(cells[::2], cells[1::2], strict=True)) == {
        "File size": "41.0\xa0KB",
        "Parameters": "—",
        "Latency per item, median (ms)": "0.12 [0.11, 0.13]",
        "Latency per item, 95th percentile (ms)": "0.19",
        "Throughput (items per second)": "8,300",
        "Peak memory": "295.6\xa0MB",
    }
