from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from rest_framework.test import APIClient
from scipy.stats import binomtest

from tests.touchstone.conftest import upload
from tests.touchstone.ledger import hidden_split
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.models import PairComparison
from touchstone.rankings.services import freeze_version, recompute_leaderboard
from touchstone.submissions.models import Submission
from touchstone.submissions.outcomes import submission_outcomes
from touchstone.submissions.scoring import score_submission
from touchstone.submissions.services import SubmissionRejected, submit_model

# These tests are about what is shown: each distinct model runs once per session in the real
# sandbox and its report is reused (see reused_sandbox_runs).
pytestmark = pytest.mark.usefixtures("reused_sandbox_runs")


def scored(version, owner, content: bytes, name: str) -> Submission:
    submission = submit_model(owner=owner, version=version, uploaded_file=upload(content), model_name=name)
    score_submission(submission_id=submission.pk)
    return submission


def leaderboard(version, query: str = "") -> dict:
    return APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/leaderboard/{query}").json()


def final_part_accuracy(submission: Submission, digits_folder) -> float:
    test, mask = hidden_split(digits_folder)
    predictions = submission_outcomes(submission)["probabilities"].argmax(axis=1)
    return float(np.mean(predictions[mask["final"]] == test.labels[mask["final"]]))


def test_an_open_version_shows_one_ladder_entry_per_team(
    version, researcher, other_researcher, good_model_bytes, weak_model_bytes
):
    scored(version, researcher, weak_model_bytes, "Weak")
    scored(version, researcher, good_model_bytes, "Strong")
    scored(version, other_researcher, weak_model_bytes, "Grace's weak")
    recompute_leaderboard(version=version)
    body = leaderboard(version)
    assert body["part"] == "feedback" and body["metrics"] == ["accuracy"]
    assert (
        body["n_items"] == body["n_feedback_items"] and body["n_items"] + body["n_final_items"] == version.n_test_items
    )
    assert [(e["team"], e["model_name"]) for e in body["entries"]] == [("ada", "Strong"), ("grace", "Grace's weak")]
    grid = 1 / body["n_items"]
    for entry in body["entries"]:
        assert {
            "rank",
            "rank_lower",
            "rank_upper",
            "tier",
            "submission",
            "model_name",
            "team",
            "is_baseline",
            "metrics",
            "team_submissions",
        } <= set(entry)
        interval = entry["metrics"]["accuracy"]
        # Released values are exact scores, on the 1/n grid, and so are their intervals' ends.
        for bound in ("value", "ci_low", "ci_high"):
            steps = (1 - interval[bound]) / grid
            assert steps == pytest.approx(round(steps), abs=1e-6)
        assert interval["ci_low"] < interval["value"] < interval["ci_high"]
        assert entry["p_value_vs_leader"] is None and entry["p_value_vs_next"] is None
        assert entry["rank_lower"] <= entry["rank"] <= entry["rank_upper"]
    assert [e["team_submissions"] for e in body["entries"]] == [2, 1]


def test_freezing_reveals_every_metric_on_the_final_part(
    version, researcher, other_researcher, good_model_bytes, weak_model_bytes, digits_folder
):
    strong = scored(version, researcher, good_model_bytes, "Strong")
    scored(version, other_researcher, weak_model_bytes, "Weak")
    freeze_version(version=version)
    body = leaderboard(version)
    assert body["status"] == "frozen" and body["part"] == "final"
    assert body["metrics"] == version.report_metrics
    assert [e["model_name"] for e in body["entries"]] == ["Strong", "Weak"]
    top = body["entries"][0]
    assert set(top["metrics"]) == set(version.report_metrics)
    assert top["metrics"]["accuracy"]["value"] == pytest.approx(final_part_accuracy(strong, digits_folder))
    for entry in body["entries"]:
        for interval in entry["metrics"].values():
            assert set(interval) == {"value", "ci_low", "ci_high"}
            assert interval["ci_low"] <= interval["value"] <= interval["ci_high"]
    submission = APIClient().get(f"/api/v1/submissions/{strong.pk}/").json()
    assert submission["scores_part"] == "final"
    assert submission["metrics"]["accuracy"] == top["metrics"]["accuracy"]


def test_a_frozen_version_refuses_new_submissions(version, researcher, good_model_bytes):
    stale = BenchmarkVersion.objects.get(pk=version.pk)
    freeze_version(version=version)
    with pytest.raises(SubmissionRejected, match="frozen"):
        submit_model(owner=researcher, version=stale, uploaded_file=upload(good_model_bytes), model_name="Late")
    assert not Submission.objects.exists()
    with pytest.raises(SubmissionRejected, match="frozen"):
        submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="Late")


def test_the_leaderboard_downloads_as_csv(version, researcher, good_model_bytes):
    submission = scored(version, researcher, good_model_bytes, "A")
    freeze_version(version=version)
    response = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/leaderboard/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(response.content.decode())))
    accuracy = submission.metric_results.get(metric="accuracy", part="final")
    assert row["model_name"] == "A" and row["rank"] == "1"
    assert float(row["accuracy_value"]) == accuracy.value
    assert float(row["accuracy_ci_low"]) == accuracy.ci_low


def test_an_empty_leaderboard_is_served_without_a_bootstrap(version):
    body = leaderboard(version)
    assert body["entries"] == [] and body["computed_at"] is None


def test_compare_reports_the_paired_difference_and_discordant_items(
    version, researcher, other_researcher, good_model_bytes, weak_model_bytes, digits_folder
):
    strong = scored(version, researcher, good_model_bytes, "Strong")
    weak = scored(version, other_researcher, weak_model_bytes, "Weak")
    freeze_version(version=version)
    body = (
        APIClient()
        .get(f"/api/v1/benchmarks/digits/versions/{version.version}/compare/?a={strong.pk}&b={weak.pk}")
        .json()
    )
    assert body["part"] == "final" and body["method"] == "exact_mcnemar"
    test, parts = hidden_split(digits_folder)
    final = parts["final"]
    right = {
        s.pk: submission_outcomes(s)["probabilities"].argmax(1)[final] == test.labels[final] for s in (strong, weak)
    }
    assert body["a_only_correct"] == int(np.sum(right[strong.pk] & ~right[weak.pk]))
    assert body["b_only_correct"] == int(np.sum(right[weak.pk] & ~right[strong.pk]))
    expected = float(np.mean(right[strong.pk]) - np.mean(right[weak.pk]))
    assert body["difference"]["value"] == pytest.approx(expected)
    assert body["difference"]["ci_low"] < expected < body["difference"]["ci_high"]
    b, c = body["a_only_correct"], body["b_only_correct"]
    assert body["p_value"] == pytest.approx(binomtest(b, b + c, 0.5).pvalue)


def test_compare_explains_a_bad_pick(version, researcher, good_model_bytes):
    strong = scored(version, researcher, good_model_bytes, "Strong")
    response = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/compare/?a={strong.pk}")
    assert response.status_code == 400 and "?a=ID&b=ID" in response.json()["detail"]
    response = APIClient().get(
        f"/api/v1/benchmarks/digits/versions/{version.version}/compare/?a={strong.pk}&b={strong.pk}"
    )
    assert response.status_code == 400 and "two different" in response.json()["detail"]
    response = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/compare/?a={strong.pk}&b=999")
    assert response.status_code == 404


def test_an_open_version_compares_on_the_feedback_part_without_exact_counts(
    version, researcher, other_researcher, good_model_bytes, weak_model_bytes
):
    strong = scored(version, researcher, good_model_bytes, "Strong")
    weak = scored(version, other_researcher, weak_model_bytes, "Weak")
    recompute_leaderboard(version=version)
    body = (
        APIClient()
        .get(f"/api/v1/benchmarks/digits/versions/{version.version}/compare/?a={strong.pk}&b={weak.pk}")
        .json()
    )
    assert body["part"] == "feedback"
    assert body["a_only_correct"] is None and body["b_only_correct"] is None
    assert body["p_value"] is None and body["method"] is None
    grid = 1 / body["n_items"]
    for bound in ("value", "ci_low", "ci_high"):
        steps = body["difference"][bound] / grid
        assert steps == pytest.approx(round(steps), abs=1e-6)
    entries = {e["submission"]: e["metrics"]["accuracy"]["value"] for e in leaderboard(version)["entries"]}
    assert body["difference"]["value"] == pytest.approx(entries[strong.pk] - entries[weak.pk])
    assert body["difference"]["ci_low"] < body["difference"]["value"] < body["difference"]["ci_high"]


def test_a_comparison_is_computed_once_and_then_served_from_storage(
    version, researcher, other_researcher, good_model_bytes, weak_model_bytes, monkeypatch
):
    from touchstone.rankings import comparisons

    strong = scored(version, researcher, good_model_bytes, "Strong")
    weak = scored(version, other_researcher, weak_model_bytes, "Weak")
    recompute_leaderboard(version=version)
    PairComparison.objects.all().delete()  # the recompute stored the adjacent pair already
    url = f"/api/v1/benchmarks/digits/versions/{version.version}/compare/?a={strong.pk}&b={weak.pk}"
    first = APIClient().get(url).json()
    assert first["part"] == "feedback"

    def no_bootstrap(*args, **kwargs):
        raise AssertionError("a stored comparison must not be recomputed")

    monkeypatch.setattr(comparisons, "compare_entries", no_bootstrap)
    assert APIClient().get(url).json() == first
    # Freezing moves comparisons to the final part: a new computation, not the stored one.
    monkeypatch.undo()
    freeze_version(version=version)
    final = APIClient().get(url).json()
    assert final["part"] == "final" and final["a_only_correct"] is not None
