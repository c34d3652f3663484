"""``manage.py reproduce RUN_ID``: a scored run run again in the real sandbox, compared bit for bit."""

from __future__ import annotations

import io
import json
from unittest import mock

import numpy as np
import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from evaluation.suite import SuiteRecord
from tests.touchstone.conftest import upload
from touchstone.storage import private_path
from touchstone.submissions.models import EvaluationRun, MetricResult, Submission
from touchstone.submissions.outcomes import load_outcomes
from touchstone.submissions.scoring import score_submission
from touchstone.submissions.services import submit_model


def scored_run(version, researcher, model_bytes: bytes) -> EvaluationRun:
    submission = submit_model(owner=researcher, version=version, uploaded_file=upload(model_bytes), model_name="C")
    assert score_submission(submission_id=submission.pk) == "scored"
    return submission.runs.get()


def reproduce(*args: object) -> str:
    out = io.StringIO()
    call_command("reproduce", *[str(arg) for arg in args], stdout=out, stderr=io.StringIO())
    return out.getvalue()


def exit_status(capsys, *args: object) -> tuple[int, str, str]:
    """Run the command as ``manage.py`` does and return its exit status, stdout and stderr.

    ``manage.py`` closes every database connection on its way out; here that would close the
    test's own connection (and its transaction) on PostgreSQL, so the closing is left out.
    """
    with pytest.raises(SystemExit) as exited, mock.patch.object(connections, "close_all"):
        ManagementUtility(["manage.py", "reproduce", *[str(arg) for arg in args]]).execute()
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def stored_state(run: EvaluationRun) -> dict:
    run.refresh_from_db()
    submission = Submission.objects.get(pk=run.submission_id)
    return {
        "runs": list(EvaluationRun.objects.values()),
        "metrics": list(MetricResult.objects.values()),
        "submission": (submission.status, submission.progress, submission.progress_message, submission.updated_at),
        "outcomes": private_path(run.outcomes_path).read_bytes(),
    }


def test_a_scored_run_reproduces_bit_for_bit_and_nothing_is_written(version, researcher, good_model_bytes):
    run = scored_run(version, researcher, good_model_bytes)
    assert run.provenance["bootstrap"]["resamples"] > 0
    before = stored_state(run)
    with CaptureQueriesContext(connection) as queries:
        report = json.loads(reproduce(run.pk, "--json"))
    writes = [query["sql"] for query in queries if query["sql"].split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == []
    assert stored_state(run) == before
    assert report["matches"] is True
    checks = {check["name"]: check for check in report["checks"]}
    assert all(check["matches"] for check in checks.values()), [c for c in checks.values() if not c["matches"]]
    n_items = len(load_outcomes(run.outcomes_path)["probabilities"])
    assert checks["predictions"]["detail"] == f"all {n_items} × 10 float32 probabilities are identical bit for bit"
    for name in ("public predictions hash", "private predictions hash", "stored outcomes", "bootstrap seeds"):
        assert checks[name]["matches"], name
    # Every stored metric and interval was compared, on both parts.
    stored = {f"{result.part} {result.metric}" for result in run.submission.metric_results.all()}
    assert stored and stored <= set(checks)
    assert {"feedback accuracy", "final accuracy"} <= stored
    # A run without a suite is reproduced without one.
    assert not any(name.startswith("suite") for name in checks)
    assert report["run"]["run"] == run.pk and report["run"]["split"] == "test"


def test_what_changed_since_the_run_is_reported_from_its_provenance_without_counting_as_a_difference(
    version, researcher, good_model_bytes, settings
):
    run = scored_run(version, researcher, good_model_bytes)
    # As an older site recorded it: another evaluator and torch, and no number of resamples.
    older = dict(run.provenance)
    older["evaluator"] = {**older["evaluator"], "version": "0.0.9"}
    older["packages"] = {**older["packages"], "torch": "2.12.0"}
    del older["bootstrap"]
    EvaluationRun.objects.filter(pk=run.pk).update(provenance=older)
    report = json.loads(reproduce(run.pk, "--json"))
    changes = report["environment_changes"]
    assert f"evaluator version changed since the run: 0.0.9 → {run.provenance['evaluator']['version']}" in changes
    assert f"torch changed since the run: 2.12.0 → {run.provenance['packages']['torch']}" in changes
    assert any(f"the site's current setting, {settings.BOOTSTRAP_RESAMPLES}" in change for change in changes)
    # The same resamples as then (the setting did not change), so every interval still matches.
    assert report["matches"] is True


def test_a_run_scored_with_its_suite_reproduces_its_predicted_classes_whatever_the_setting_says(
    version, researcher, good_model_bytes, with_suite, settings
):
    run = scored_run(version, researcher, good_model_bytes)
    assert SuiteRecord.from_arrays(load_outcomes(run.outcomes_path)) is not None
    # Turned off since: the run had a suite, so its reproduction runs one.
    settings.EVALUATION_SUITE = False
    text = reproduce(run.pk)
    assert f"Run {run.pk} (attempt 1 of submission #{run.submission_id} 'C', digits" in text
    assert "reproduced bit for bit" in text.splitlines()[0]
    lines = {line.split(":")[0].split(maxsplit=1)[1]: line for line in text.splitlines() if line.startswith("  ")}
    assert lines["suite conditions"].startswith("  match") and "predicted classes identical under all" in text
    assert lines["suite attacks"].startswith("  match") and lines["suite saliency"].startswith("  match")
    assert lines["predictions"].startswith("  match")


def test_a_changed_probability_in_the_stored_outcomes_is_reported_and_exits_1(
    version, researcher, good_model_bytes, capsys
):
    run = scored_run(version, researcher, good_model_bytes)
    arrays = load_outcomes(run.outcomes_path)
    original = arrays["probabilities"][5, 2]
    arrays["probabilities"][5, 2] = np.nextafter(original, np.float32(1))
    with private_path(run.outcomes_path).open("wb") as stored:
        np.savez(stored, **arrays)
    status, out, err = exit_status(capsys, run.pk)
    assert status == 1
    assert "DIFFERS" in out.splitlines()[0]
    lines = {line.split(":")[0].split(maxsplit=1)[1]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["predictions"].startswith("  DIFFERS")
    assert f"1 of {len(arrays['probabilities'])} items differ (rows 5)" in lines["predictions"]
    # The stored file no longer agrees with the hash recorded when it was written, while the
    # model's reproduced predictions still do: the file changed, not the model.
    assert lines["stored outcomes"].startswith("  DIFFERS") and "was changed after the run" in lines["stored outcomes"]
    assert lines["public predictions hash"].startswith("  match")
    assert lines["final accuracy"].startswith("  match")
    assert "the reproduction differs from the run: stored outcomes, predictions" in err


def test_an_unknown_run_id_exits_2_saying_so(db, capsys):
    status, out, err = exit_status(capsys, 4242)
    assert status == 2 and out == ""
    assert "cannot reproduce: there is no evaluation run with id 4242" in err


@pytest.mark.parametrize(
    ("outcome", "error_code", "words"),
    [
        ("failed", "model_raised", "was never scored: it failed with model_raised"),
        ("", "", "was never scored: it has not finished"),
    ],
)
def test_a_run_that_was_never_scored_exits_2_naming_the_problem(
    version, researcher, capsys, outcome, error_code, words
):
    submission = Submission.objects.create(
        owner=researcher,
        version=version,
        model_name="Broken",
        team=researcher.username,
        model_path="models/broken.pt",
        model_format="torchscript",
        sha256="d" * 64,
        size_bytes=1,
        status=Submission.Status.FAILED if outcome else Submission.Status.RUNNING,
    )
    run = EvaluationRun.objects.create(submission=submission, attempt=1, outcome=outcome, error_code=error_code)
    status, out, err = exit_status(capsys, run.pk)
    assert status == 2 and out == ""
    assert f"cannot reproduce: run {run.pk} (attempt 1 of submission #{submission.pk}) {words}" in err
    with pytest.raises(CommandError) as refused:
        reproduce(run.pk, "--json")
    assert refused.value.returncode == 2
