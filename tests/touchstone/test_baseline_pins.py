"""Baselines pinned by file hash: added to versions byte for byte, checked under a new evaluator."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from evaluation import EVALUATOR_VERSION
from evaluation.spec import load_benchmark
from tests.models import centroid_model
from tests.touchstone.ledger import capture_enqueued
from tests.touchstone.reevaluation_fixture import publish_next
from touchstone.storage import private_path
from touchstone.submissions.baseline_checks import baselines_due, check_baseline
from touchstone.submissions.models import BaselineCheck, BaselinePin, EvaluationRun, Submission
from touchstone.submissions.outcomes import load_outcomes
from touchstone.submissions.pinning import pin_baseline
from touchstone.tasks import evaluate_submission


@pytest.fixture
def pinned(version, tmp_path, good_model_bytes) -> BaselinePin:
    path = tmp_path / "centroids.pt"
    path.write_bytes(good_model_bytes)
    return pin_baseline(
        benchmark=version.benchmark,
        path=path,
        name="Centroids",
        description="Class means of the dev split.",
        recipe={"recipe": "Centroids", "filename": "centroids.pt", "seed": 0},
        command="python -m catalog baselines FOLDER OUTDIR",
    )


def test_pinning_the_same_file_twice_keeps_one_pin_with_the_files_hash(version, pinned, tmp_path, good_model_bytes):
    again = tmp_path / "again.pt"
    again.write_bytes(good_model_bytes)
    assert pin_baseline(benchmark=version.benchmark, path=again, name="x", description="", recipe={}) == pinned
    assert BaselinePin.objects.count() == 1
    assert private_path(pinned.model_path).read_bytes() == good_model_bytes


def test_add_baselines_queues_each_pin_once_in_the_background(version, pinned, monkeypatch):
    queued = capture_enqueued(monkeypatch)
    out = io.StringIO()
    call_command("add_baselines", "digits", "1.0.0", stdout=out)
    call_command("add_baselines", "digits", "1.0.0", stdout=out)
    row = Submission.objects.get(version=version)
    assert (row.origin, row.baseline_pin, row.sha256, row.is_baseline) == ("baseline", pinned, pinned.sha256, True)
    assert not row.counts_against_quota
    assert "already on digits 1.0.0" in out.getvalue()
    # Nothing was sent to the workers directly: the dispatcher hands background rows out.
    assert queued == []


def test_add_baselines_refuses_a_file_whose_hash_differs_from_the_pin(version, pinned, tmp_path, digits_dev):
    retrained = tmp_path / "retrained"
    retrained.mkdir()
    centroid_model(digits_dev.inputs, digits_dev.labels, 10, retrained / "centroids.pt", noise=0.5, seed=1)
    with pytest.raises(CommandError, match=f"is pinned to {pinned.sha256}"):
        call_command("add_baselines", "digits", "1.0.0", "--files", str(retrained))
    private_path(pinned.model_path).write_bytes(b"PK tampered")
    with pytest.raises(CommandError, match="not the pinned"):
        call_command("add_baselines", "digits", "1.0.0")
    assert not Submission.objects.exists()


def test_add_baselines_pin_pins_a_maintainers_file_and_adds_only_it(version, pinned, tmp_path, digits_dev, monkeypatch):
    capture_enqueued(monkeypatch)
    path = tmp_path / "mine.pt"
    centroid_model(digits_dev.inputs, digits_dev.labels, 10, path, noise=0.5, seed=4)
    with pytest.raises(CommandError, match="--pin needs --name"):
        call_command("add_baselines", "digits", "1.0.0", "--pin", str(path))
    with pytest.raises(CommandError, match="is not a file"):
        call_command("add_baselines", "digits", "1.0.0", "--pin", str(tmp_path / "absent.pt"), "--name", "Mine")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(CommandError, match="cannot be pinned as a baseline"):
        call_command("add_baselines", "digits", "1.0.0", "--pin", str(tmp_path / "junk.pt"), "--name", "Junk")
    assert not Submission.objects.exists() and BaselinePin.objects.count() == 1
    out = io.StringIO()
    call_command(
        "add_baselines", "digits", "1.0.0", "--pin", str(path), "--name", "Mine", "--command", "make mine", stdout=out
    )
    pin = BaselinePin.objects.get(name="Mine")
    assert (pin.command, pin.recipe["filename"]) == ("make mine", "mine.pt")
    # Only the new pin is added; the earlier pin stays off this version until asked for.
    assert list(Submission.objects.values_list("baseline_pin", flat=True)) == [pin.pk]
    assert f"sha256 {pin.sha256}" in out.getvalue()


def test_a_new_version_re_evaluates_the_pinned_baselines_scored_on_the_old_one_and_not_failed_ones(
    version, pinned, researcher, tmp_path, digits_dev, monkeypatch, django_capture_on_commit_callbacks, digits_folder
):
    capture_enqueued(monkeypatch)
    other_path = tmp_path / "weak.pt"
    centroid_model(digits_dev.inputs, digits_dev.labels, 10, other_path, noise=0.9, seed=2)
    broken = pin_baseline(benchmark=version.benchmark, path=other_path, name="Weak", description="", recipe={})
    call_command("add_baselines", "digits", "1.0.0", stdout=io.StringIO())
    Submission.objects.filter(baseline_pin=pinned).update(status=Submission.Status.SCORED)
    Submission.objects.filter(baseline_pin=broken).update(status=Submission.Status.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        new = publish_next(digits_folder, tmp_path / "digits")
    copies = list(Submission.objects.filter(version=new))
    assert [(c.baseline_pin_id, c.reevaluation_of.baseline_pin_id, c.sha256) for c in copies] == [
        (pinned.pk, pinned.pk, pinned.sha256)
    ]
    # add_baselines --from adds the same pins, and finds them already there.
    out = io.StringIO()
    call_command("add_baselines", "digits", "1.1.0", "--from", "1.0.0", stdout=out)
    assert "already on digits 1.1.0" in out.getvalue()


def test_a_baseline_scored_by_another_evaluator_is_run_again_and_flagged_only_if_it_moved(
    version, pinned, monkeypatch, django_capture_on_commit_callbacks
):
    capture_enqueued(monkeypatch)
    call_command("add_baselines", "digits", "1.0.0", stdout=io.StringIO())
    row = Submission.objects.get(version=version)
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_submission.run(row.pk) == "scored"
    assert baselines_due() == []  # scored by this evaluator: nothing to check
    run = EvaluationRun.objects.get(submission=row)
    EvaluationRun.objects.filter(pk=run.pk).update(provenance={**run.provenance, "evaluator": {"version": "0.0.1"}})
    assert baselines_due() == [row.pk]
    check = check_baseline(row.pk)
    assert (check.recorded_evaluator_version, check.evaluator_version) == ("0.0.1", EVALUATOR_VERSION)
    assert check.difference == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0} and not check.flagged
    assert baselines_due() == [] and check_baseline(row.pk) == check

    # The recorded outcomes of a second baseline say it was right on every item: the new run,
    # which is not, has moved beyond its interval.
    check.delete()
    stored = load_outcomes(run.outcomes_path)
    labels = load_benchmark(version.folder).load_split("test").labels
    perfect = np.full_like(stored["probabilities"], 0.0)
    perfect[np.arange(labels.size), labels] = 1.0
    buffer = io.BytesIO()
    np.savez(buffer, probabilities=perfect, item_ids=stored["item_ids"])
    private_path(run.outcomes_path).write_bytes(buffer.getvalue())
    flagged = check_baseline(row.pk)
    assert flagged.flagged and flagged.difference["ci_high"] < 0 and flagged.recorded_value == 1.0
    assert "beyond its interval" in flagged.detail


def test_a_flagged_check_shows_on_the_version_page_to_maintainers_only(version, pinned, researcher, monkeypatch):
    capture_enqueued(monkeypatch)
    call_command("add_baselines", "digits", "1.0.0", stdout=io.StringIO())
    row = Submission.objects.get(version=version)
    BaselineCheck.objects.create(
        submission=row,
        evaluator_version=EVALUATOR_VERSION,
        recorded_evaluator_version="0.0.1",
        metric="accuracy",
        flagged=True,
        detail="accuracy 0.9500 → 0.9000 on the same 1078 items",
    )
    assert "baseline-flags" not in Client().get(version.get_absolute_url()).content.decode()
    visitor = Client()
    visitor.force_login(researcher)
    assert "baseline-flags" not in visitor.get(version.get_absolute_url()).content.decode()
    version.benchmark.maintainers.add(researcher)
    page = visitor.get(version.get_absolute_url()).content.decode()
    assert 'id="baseline-flags"' in page and "0.9500 → 0.9000" in page
