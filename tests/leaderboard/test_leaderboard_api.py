from __future__ import annotations

import csv
import io

from rest_framework.test import APIClient

from leaderboard.rankings.services import recompute_leaderboard
from leaderboard.submissions.scoring import score_submission
from leaderboard.submissions.services import submit_model
from tests.leaderboard.conftest import upload


def test_the_leaderboard_json_has_every_documented_field(version, researcher, good_model_bytes, weak_model_bytes):
    for content, name in ((good_model_bytes, "Strong"), (weak_model_bytes, "Weak")):
        submission = submit_model(owner=researcher, version=version, uploaded_file=upload(content), model_name=name)
        score_submission(submission_id=submission.pk)
    recompute_leaderboard(version=version)
    body = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/leaderboard/").json()
    assert body["n_items"] == version.n_test_items
    assert [e["model_name"] for e in body["entries"]] == ["Strong", "Weak"]
    for entry in body["entries"]:
        assert {"rank", "rank_lower", "rank_upper", "tier", "submission", "model_name", "team", "is_baseline",
                "metrics"} <= set(entry)
        for interval in entry["metrics"].values():
            assert set(interval) == {"value", "ci_low", "ci_high"}
            assert interval["ci_low"] <= interval["value"] <= interval["ci_high"]
    assert body["entries"][0]["team_submissions"] == 2


def test_the_leaderboard_downloads_as_csv(version, researcher, good_model_bytes):
    submission = submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="A")
    score_submission(submission_id=submission.pk)
    recompute_leaderboard(version=version)
    response = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/leaderboard/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(response.content.decode())))
    accuracy = submission.metric_results.get(metric="accuracy")
    assert row["model_name"] == "A" and row["rank"] == "1"
    assert float(row["accuracy_value"]) == accuracy.value
    assert float(row["accuracy_ci_low"]) == accuracy.ci_low


def test_an_empty_leaderboard_is_served_without_a_bootstrap(version):
    body = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/leaderboard/").json()
    assert body["entries"] == [] and body["computed_at"] is None
