"""The benchmark page: its versions with their changelogs, and progress over time from disclosed scores only."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from tests.touchstone.ledger import record_probabilities
from touchstone.benchmarks.services import publish_benchmark
from touchstone.rankings.models import LadderRelease
from touchstone.rankings.services import freeze_version, recompute_leaderboard
from touchstone.submissions.models import MetricResult


def next_version_folder(digits_folder, tmp_path, number: str = "1.1.0", changelog: str = "Relabelled nothing; a test."):
    """A copy of the digits folder published under another number with its own changelog."""
    folder = tmp_path / f"digits-{number}"
    shutil.copytree(digits_folder, folder)
    spec = folder / "benchmark.toml"
    text = spec.read_text(encoding="utf-8")
    text = text.replace('version = "1.0.0"', f'version = "{number}"')
    text = text.replace('changelog = "First version."', f"changelog = {json.dumps(changelog)}")
    spec.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def history(version, hidden) -> dict:
    """Two teams on the open version, uploads a day apart: released, held, released, released."""
    ada = get_user_model().objects.create_user("ada")
    grace = get_user_model().objects.create_user("grace")
    start = timezone.now() - timedelta(days=10)
    made = {}
    for day, (owner, name, wrong) in enumerate(
        [(ada, "first", 60), (ada, "held", 59), (grace, "grace's", 50), (ada, "better", 20)]
    ):
        made[name] = record_probabilities(
            version, owner, hidden.wrong_on(wrong), name=name, at=start + timedelta(days=day), with_metrics=True
        )
    recompute_leaderboard(version=version)
    verdicts = {r.submission.model_name: r.improved for r in LadderRelease.objects.select_related("submission")}
    assert verdicts == {"first": True, "held": False, "grace's": True, "better": True}
    return made


def progress(client: Client | None = None) -> dict:
    response = (client or Client()).get("/api/v1/benchmarks/digits/progress/")
    assert response.status_code == 200
    return response.json()


def test_an_open_versions_progress_holds_released_scores_only_each_a_record(version, history, hidden):
    found = progress()
    (entry,) = found["versions"]
    assert (entry["version"], entry["part"], entry["metric"]) == (version.version, "feedback", "accuracy")
    # grace's (wrong on 50) beats ada's first (60); ada's better (20) beats both. The held one is never counted.
    assert [r["model_name"] for r in entry["records"]] == ["first", "grace's", "better"]
    assert entry["n_results"] == 3
    for record in entry["records"]:
        release = LadderRelease.objects.get(submission_id=record["submission"])
        assert (record["value"], record["ci_low"], record["ci_high"]) == (
            release.released,
            release.ci_low,
            release.ci_high,
        )
    assert history["held"].pk not in {r["submission"] for r in entry["records"]}


def test_a_score_that_is_not_a_record_is_left_out(version, history, hidden):
    owner = get_user_model().objects.create_user("hopper")
    # Released for its own team (its first), but worse than the version's best so far.
    record_probabilities(version, owner, hidden.wrong_on(55), name="late", at=timezone.now())
    recompute_leaderboard(version=version)
    entry = progress()["versions"][0]
    assert entry["n_results"] == 4
    assert "late" not in [r["model_name"] for r in entry["records"]]


def test_a_withdrawn_submission_leaves_the_progress_of_an_open_version(version, history):
    history["grace's"].withdraw()
    records = progress()["versions"][0]["records"]
    assert [r["model_name"] for r in records] == ["first", "better"]


def test_a_frozen_version_shows_final_part_scores_of_every_public_submission(version, history):
    freeze_version(version=version)
    entry = progress()["versions"][0]
    assert entry["part"] == "final" and entry["status"] == "frozen"
    assert entry["n_results"] == 4  # the held submission's final score is public once frozen
    final = {
        r.submission.model_name: r
        for r in MetricResult.objects.filter(part="final", condition="clean", metric="accuracy").select_related(
            "submission"
        )
    }
    best = float("-inf")
    expected = []
    for name in ["first", "held", "grace's", "better"]:
        if final[name].value > best:
            best = final[name].value
            expected.append(name)
    assert [r["model_name"] for r in entry["records"]] == expected
    for record in entry["records"]:
        row = final[record["model_name"]]
        assert (record["value"], record["ci_low"], record["ci_high"]) == (row.value, row.ci_low, row.ci_high)


def test_the_benchmark_page_lists_versions_newest_first_with_changelogs_and_the_superseded_note(
    version, digits_folder, tmp_path
):
    newer = publish_benchmark(folder=next_version_folder(digits_folder, tmp_path, changelog="Moved items to dev."))
    page = Client().get("/benchmarks/digits/")
    assert page.status_code == 200
    html = page.content.decode()
    table = html[html.index('id="version-table"') :]
    assert table.index("v1.1.0") < table.index("v1.0.0")
    assert "Moved items to dev." in html and "First version." in html
    old_row = html[html.index('id="version-1.0.0"') :]
    assert "superseded by" in old_row[: old_row.index("</tr>")]
    new_row = html[html.index('id="version-1.1.0"') :]
    assert "superseded by" not in new_row[: new_row.index("</tr>")]
    assert f'href="{newer.get_absolute_url()}" id="latest-version"' in html
    old_page = Client().get(version.get_absolute_url()).content.decode()
    assert 'id="superseded"' in old_page and "v1.1.0" in old_page
    assert 'id="superseded"' not in Client().get(newer.get_absolute_url()).content.decode()


def test_the_benchmark_page_draws_the_progress_chart_and_its_table(version, history):
    html = Client().get("/benchmarks/digits/").content.decode()
    figure = json.loads(re.search(r'id="progress-chart-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    trace, holds = figure["data"]
    assert holds["y"] == [trace["y"][-1]] * 2 and holds["x"][0] == trace["x"][-1]
    expected = progress()["versions"][0]["records"]
    assert trace["y"] == [r["value"] for r in expected]
    assert trace["line"]["shape"] == "hv"
    assert [round(v, 12) for v in trace["error_y"]["array"]] == [round(r["ci_high"] - r["value"], 12) for r in expected]
    table = html[html.index('id="progress-table"') :]
    for record in expected:
        assert f'data-submission="{record["submission"]}"' in table
    assert f'data-submission="{history["held"].pk}"' not in table


def test_a_benchmark_without_released_scores_says_so(version):
    html = Client().get("/benchmarks/digits/").content.decode()
    assert 'id="no-progress"' in html and "progress-chart-data" not in html


def test_progress_keeps_versions_apart(version, history, digits_folder, tmp_path):
    newer = publish_benchmark(folder=next_version_folder(digits_folder, tmp_path))
    found = progress()
    assert [entry["version"] for entry in found["versions"]] == ["1.0.0", "1.1.0"]
    assert found["versions"][1]["records"] == [] and newer.status == "published"


def test_an_unknown_benchmark_has_no_page_and_no_progress(db):
    assert Client().get("/benchmarks/nothing/").status_code == 404
    assert Client().get("/api/v1/benchmarks/nothing/progress/").status_code == 404
