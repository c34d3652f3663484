"""Full exports of a board and of a submission's report: CSV and JSON, named, and under the disclosure rule."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.touchstone.conftest import api_client_for
from tests.touchstone.ledger import probabilities_of, record_probabilities
from touchstone.rankings.models import LadderRelease
from touchstone.rankings.services import freeze_version, recompute_leaderboard
from touchstone.submissions.models import EvaluationRun, MetricResult, Submission

pytestmark = pytest.mark.usefixtures("empty_cache")


@pytest.fixture
def board(version, hidden) -> dict:
    """``ada`` with a released model and two held ones, ``grace`` with one released model."""
    ada = get_user_model().objects.create_user("ada")
    grace = get_user_model().objects.create_user("grace")
    released = record_probabilities(version, ada, hidden.wrong_on(40), name="released", with_metrics=True)
    rng = np.random.default_rng(1)
    held = []
    for k in range(2):
        predictions = hidden.wrong_on(40).argmax(axis=1)
        changed = rng.choice(hidden.feedback, size=6, replace=False)
        predictions[changed] = rng.integers(0, 10, 6)
        held.append(
            record_probabilities(version, ada, probabilities_of(predictions), name=f"held {k}", with_metrics=True)
        )
    other = record_probabilities(version, grace, hidden.wrong_on(60), name="grace's", with_metrics=True)
    recompute_leaderboard(version=version)
    assert [r.improved for r in LadderRelease.objects.order_by("sequence")] == [True, False, False, True]
    return {"ada": ada, "released": released, "held": held, "other": other}


def board_file(version, fmt: str):
    response = Client().get(f"/api/v1/benchmarks/digits/versions/{version.version}/export/?format={fmt}")
    assert response.status_code == 200
    return response


def report_file(submission, fmt: str, client=None):
    return (client or Client()).get(f"/api/v1/submissions/{submission.pk}/report/?format={fmt}")


def rows_of(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def numbers(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def test_an_open_versions_board_export_holds_released_scores_and_nothing_else(version, board):
    releases = {r.submission_id: r for r in LadderRelease.objects.improving()}
    document = board_file(version, "json").json()
    assert (document["benchmark"], document["version"], document["part"]) == ("digits", version.version, "feedback")
    assert document["metrics"] == ["accuracy"]
    assert {e["submission"] for e in document["entries"]} == {board["released"].pk, board["other"].pk}
    for entry in document["entries"]:
        release = releases[entry["submission"]]
        assert entry["metrics"] == {
            "accuracy": {"value": release.released, "ci_low": release.ci_low, "ci_high": release.ci_high}
        }
        assert entry["p_value_vs_leader"] is None and entry["difference_to_leader"] is None
    rows = rows_of(board_file(version, "csv"))
    assert {int(row["submission"]) for row in rows} == {board["released"].pk, board["other"].pk}
    released_numbers = {x for r in releases.values() for x in (r.released, r.ci_low, r.ci_high)}
    for row in rows:
        assert (row["benchmark"], row["version"], row["part"]) == ("digits", version.version, "feedback")
        scores = {key: value for key, value in row.items() if key.startswith("accuracy_") and value}
        assert scores and {numbers(value) for value in scores.values()} <= released_numbers
        assert not any(key.startswith(("nll_", "brier_", "macro_f1_")) for key in row)
        assert row["p_value_vs_leader"] == row["p_value_vs_next"] == row["difference_to_leader_value"] == ""


def test_the_export_files_are_named_after_benchmark_version_and_part(version, board):
    for fmt in ("csv", "json"):
        disposition = board_file(version, fmt)["Content-Disposition"]
        assert disposition == f'attachment; filename="digits-{version.version}-feedback-board.{fmt}"'
        response = report_file(board["released"], fmt)
        expected = f"digits-{version.version}-feedback-submission-{board['released'].pk}.{fmt}"
        assert response["Content-Disposition"] == f'attachment; filename="{expected}"'


def test_a_frozen_versions_board_export_has_every_metric_and_interval(version, board):
    freeze_version(version=version)
    document = board_file(version, "json").json()
    assert document["part"] == "final" and document["metrics"] == version.report_metrics
    rows = rows_of(board_file(version, "csv"))
    assert len(rows) == len(document["entries"]) >= 2
    for row, entry in zip(rows, document["entries"], strict=True):
        assert row["part"] == "final"
        for name in version.report_metrics:
            for bound in ("value", "ci_low", "ci_high"):
                assert numbers(row[f"{name}_{bound}"]) == pytest.approx(entry["metrics"][name][bound])
        assert row["rank_set_lower"] == str(entry["rank_lower_simultaneous"])
        assert numbers(row["difference_to_leader_value"]) == pytest.approx(entry["difference_to_leader"]["value"])
    assert board_file(version, "csv")["Content-Disposition"].endswith('-final-board.csv"')


def test_a_held_submissions_report_shows_no_score_rank_or_summary(version, board):
    held = board["held"][0]
    report = report_file(held, "json").json()
    assert report["part"] == "feedback"
    assert report["metrics"] == {} and report["ranking"] is None and report["summary"] is None
    assert report["ladder"] == {"metric": "accuracy", "released": None, "improved": False}
    sections = {row["section"] for row in rows_of(report_file(held, "csv"))}
    assert sections <= {"submission", "ladder", "provenance"}


def test_a_released_submissions_report_has_its_released_score_rank_and_summary(version, board):
    release = LadderRelease.objects.get(submission=board["released"])
    report = report_file(board["released"], "json").json()
    assert report["metrics"] == {
        "accuracy": {"value": release.released, "ci_low": release.ci_low, "ci_high": release.ci_high}
    }
    assert report["ranking"]["rank"] == 1 and report["summary"]["ece"] is not None
    rows = rows_of(report_file(board["released"], "csv"))
    assert all((r["benchmark"], r["version"], r["part"]) == ("digits", version.version, "feedback") for r in rows)
    (metric,) = [r for r in rows if r["section"] == "metric"]
    assert (metric["name"], numbers(metric["value"])) == ("accuracy", release.released)
    assert any(r["section"] == "summary" and r["name"] == "ece" for r in rows)


def test_a_frozen_submissions_report_has_every_final_metric(version, board):
    freeze_version(version=version)
    held = board["held"][1]
    report = report_file(held, "json").json()
    stored = {r.metric: r for r in MetricResult.objects.filter(submission=held, part="final", condition="clean")}
    assert report["part"] == "final" and set(report["metrics"]) == set(version.report_metrics)
    for name, interval in report["metrics"].items():
        assert interval == {"value": stored[name].value, "ci_low": stored[name].ci_low, "ci_high": stored[name].ci_high}


def test_the_report_carries_the_public_provenance_only(version, board):
    run = board["released"].scored_run()
    EvaluationRun.objects.filter(pk=run.pk).update(
        provenance={"artifact": {"sha256": "ab" * 32, "format": "torchscript", "host_path": "/secret/place"}},
        private_record={"worker_host": "node-7"},
    )
    report = report_file(board["released"], "json").json()
    assert report["provenance"] == {"attempt": 1, "artifact": {"sha256": "ab" * 32, "format": "torchscript"}}
    text = report_file(board["released"], "csv").content.decode()
    assert "provenance,artifact.sha256," + "ab" * 32 in text
    assert "/secret/place" not in text and "node-7" not in text


def test_a_submission_nobody_may_see_has_no_report(version, board):
    queued = Submission.objects.create(
        owner=board["ada"],
        version=version,
        model_name="queued",
        team="ada",
        model_path="x.pt",
        model_format="torchscript",
        sha256="0" * 64,
        size_bytes=1,
    )
    assert report_file(queued, "json").status_code == 404
    assert report_file(queued, "json", api_client_for(board["ada"])).status_code == 200
