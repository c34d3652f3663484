"""Scored with the suite, a submission's robustness breakdowns reach its API record, the board and the CLI."""

from __future__ import annotations

import contextlib
import csv as csv_module
import io
import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from evaluation.cli import main as cli_main
from tests.touchstone.conftest import api_client_for, upload, write_bytes
from touchstone.rankings.services import freeze_version
from touchstone.submissions.models import Submission
from touchstone.submissions.scoring import score_submission
from touchstone.submissions.services import submit_model

pytestmark = pytest.mark.usefixtures("with_suite", "empty_cache")


@pytest.fixture
def frozen(version, researcher, good_model_bytes, weak_model_bytes) -> dict:
    """A researcher's model and a weaker pinned baseline, both scored with the suite; then a freeze."""
    owner = get_user_model().objects.create_user("baselines")
    baseline = submit_model(
        owner=owner, version=version, uploaded_file=upload(weak_model_bytes), model_name="Weak centroids",
        is_baseline=True, team="Baselines",
    )  # fmt: skip
    entry = submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="Good")
    for submission in (baseline, entry):
        assert score_submission(submission_id=submission.pk) == Submission.Status.SCORED
    freeze_version(version=version)
    return {"baseline": baseline, "entry": entry}


def breakdowns_of(submission) -> dict:
    return APIClient().get(f"/api/v1/submissions/{submission.pk}/").json()["breakdowns"]


def test_the_command_line_computes_the_sites_breakdowns_bit_for_bit(
    frozen, digits_folder, good_model_bytes, weak_model_bytes, tmp_path
):
    served = breakdowns_of(frozen["entry"])
    model = write_bytes(tmp_path / "good.pt", good_model_bytes)
    # The site's reference is the version's pinned baseline; locally it is named by its file.
    reference = write_bytes(tmp_path / "Weak centroids.pt", weak_model_bytes)
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(io.StringIO()):
        status = cli_main(
            ["evaluate", "--benchmark", str(digits_folder), "--model", str(model), "--split", "test", "--part",
             "final", "--reference", str(reference), "--json"]
        )  # fmt: skip
    assert status == 0
    local = json.loads(output.getvalue())["breakdowns"]
    # Cost is measured anew on every run; everything else follows from the predictions.
    served_cost, local_cost = served.pop("cost"), local.pop("cost")
    assert set(served_cost) == set(local_cost) and served_cost["parameters"] == local_cost["parameters"]
    assert served["corruptions"]["baseline"] == "Weak centroids" and served["corruptions"]["mce"] is not None
    assert local == served


def test_corruption_errors_are_relative_to_the_best_pinned_baseline(frozen):
    baseline = breakdowns_of(frozen["baseline"])["corruptions"]
    entry = breakdowns_of(frozen["entry"])["corruptions"]
    # The reference's own errors divided by themselves.
    assert all(item["ce"] == 1.0 for item in baseline["items"])
    assert baseline["mce"]["value"] == 1.0
    for item in entry["items"]:
        errors = sum(1 - row["value"] for row in item["severities"])
        reference = sum(1 - row["baseline"] for row in item["severities"])
        assert item["ce"] == pytest.approx(errors / reference, abs=5e-4)


def test_the_board_summarises_each_entry_and_both_download_as_csv(frozen, version, researcher):
    url = f"/api/v1/benchmarks/{version.benchmark.slug}/versions/{version.version}/leaderboard/"
    board = APIClient().get(url).json()
    summaries = {entry["submission"]: entry["summary"] for entry in board["entries"]}
    for submission in (frozen["entry"], frozen["baseline"]):
        found = breakdowns_of(submission)
        summary = summaries[submission.pk]
        assert summary["corrupted_accuracy"] == found["corruptions"]["mean_accuracy"]
        assert summary["mce"] == found["corruptions"]["mce"]
        assert summary["ece"] == found["calibration"]["ece"]
        main = found["adversarial"]["main"]
        assert summary["adversarial_accuracy"]["name"] == main["name"] == "pgd"
        worst = min(
            (row for table in found["slices"].values() for row in table["slices"] if not row["small"]),
            key=lambda row: row["value"],
        )
        assert summary["worst_slice"]["value"] == worst["value"]
    csv = APIClient().get(f"{url}?format=csv").content.decode()
    header = csv.splitlines()[0].split(",")
    assert {
        "summary_mce_value",
        "summary_ece_low",
        "summary_corrupted_accuracy_high",
        "summary_latency_ms_value",
    } <= set(header)
    # A submission's breakdowns download as JSON and as one CSV row per figure.
    breakdowns_url = f"/api/v1/submissions/{frozen['entry'].pk}/breakdowns/"
    found = APIClient().get(breakdowns_url).json()
    assert found == breakdowns_of(frozen["entry"])
    rows = list(csv_module.DictReader(io.StringIO(APIClient().get(f"{breakdowns_url}?format=csv").content.decode())))
    severities = [row for row in rows if row["section"] == "corruption accuracy"]
    expected = [row for item in found["corruptions"]["items"] for row in item["severities"]]
    assert [float(row["value"]) for row in severities] == [row["value"] for row in expected]
    pgd = next(row for row in rows if row["section"] == "attack accuracy" and row["group"] == "pgd")
    assert float(pgd["value"]) == found["adversarial"]["attacks"][2]["value"]
    # Nothing is shown for a submission that is not scored (here: as if its run had failed).
    Submission.objects.filter(pk=frozen["entry"].pk).update(status=Submission.Status.FAILED)
    refused = api_client_for(researcher).get(breakdowns_url)
    assert refused.status_code == 404 and "not scored" in refused.json()["detail"]
