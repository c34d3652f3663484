"""The worker's path through the real sandbox: claim, evaluate, record, rank."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.provenance import keyed_predictions_hash, predictions_hash
from evaluation.spec import load_benchmark
from tests.models import centroid_model
from tests.security.models import RAISED_MESSAGE, build_malformed_model, build_raising_model
from tests.touchstone.conftest import upload
from tests.touchstone.ledger import capture_enqueued, hidden_split
from touchstone.rankings.models import LadderRelease, LeaderboardEntry
from touchstone.rankings.services import freeze_version, leaderboard_is_stale, recompute_leaderboard
from touchstone.submissions import scoring
from touchstone.submissions.models import Submission
from touchstone.submissions.outcomes import load_outcomes
from touchstone.submissions.provenance import predictions_key
from touchstone.submissions.scoring import score_submission
from touchstone.submissions.services import submit_model
from touchstone.tasks import evaluate_submission


def submit(version, owner, content: bytes, name: str) -> Submission:
    return submit_model(owner=owner, version=version, uploaded_file=upload(content), model_name=name)


def test_it_scores_a_model_on_both_parts_of_the_hidden_split_and_queues_the_recompute(
    version, researcher, good_model_bytes, digits_folder, monkeypatch, django_capture_on_commit_callbacks
):
    submission = submit(version, researcher, good_model_bytes, "Centroids")
    queued = capture_enqueued(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_submission.run(submission.pk) == "scored"
    # The new result makes the stored board out of date, and one recompute is on its way.
    assert leaderboard_is_stale(version_id=version.pk)
    assert queued == [("recompute", version.pk)]
    submission.refresh_from_db()
    assert submission.status == "scored" and submission.progress == 1.0
    test, parts = hidden_split(digits_folder)
    assert parts["feedback"].sum() == round(0.3 * len(test.labels)) and not (parts["feedback"] & parts["final"]).any()
    run = submission.runs.get()
    predictions = load_outcomes(run.outcomes_path)["probabilities"].argmax(axis=1)
    for part, mask in parts.items():
        expected = float(np.mean(predictions[mask] == test.labels[mask]))
        accuracy = submission.metric_results.get(metric="accuracy", part=part)
        assert accuracy.value == pytest.approx(expected)
        assert accuracy.ci_low < accuracy.value < accuracy.ci_high
        assert expected > 0.8
        assert {r.metric for r in submission.metric_results.filter(part=part)} == set(version.report_metrics)
    assert run.provenance["artifact"]["sha256"] == submission.sha256
    assert run.provenance["benchmark"]["content_hash"] == version.content_hash
    assert "bubblewrap" in run.provenance["sandbox"]["layers"]


def test_equal_predictions_show_equal_keyed_hashes_and_the_plain_hash_stays_private(
    version, researcher, good_model_bytes
):
    runs = []
    for name in ("Centroids", "Same centroids"):
        submission = submit(version, researcher, good_model_bytes, name)
        assert score_submission(submission_id=submission.pk) == "scored"
        runs.append(submission.runs.get())
    first, second = runs
    plain = first.private_record["predictions_sha256"]
    probabilities = load_outcomes(first.outcomes_path)["probabilities"]
    assert plain == predictions_hash(probabilities)
    assert first.provenance["predictions_hmac_sha256"] == keyed_predictions_hash(probabilities, predictions_key())
    assert first.provenance["predictions_hmac_sha256"] == second.provenance["predictions_hmac_sha256"] != plain
    assert "predictions_sha256" not in first.provenance
    # The exact figures were measured and kept, for maintainers.
    assert len(first.private_record["sandbox"]["batch_seconds"]) >= 1
    assert first.private_record["host"]["python_executable"]
    assert set(first.provenance["cost"]) == {"median_batch_seconds", "peak_memory_bytes", "startup_seconds"}


def test_a_redelivered_message_does_not_score_twice(version, researcher, good_model_bytes):
    submission = submit(version, researcher, good_model_bytes, "Centroids")
    assert score_submission(submission_id=submission.pk) == "scored"
    assert score_submission(submission_id=submission.pk) == "skipped"
    assert submission.runs.count() == 1


@pytest.mark.parametrize(
    ("kind", "code", "words"),
    [
        ("wrong_shape", "malformed_output", "expected float32 logits of shape"),
        ("float64", "malformed_output", "float64"),
        ("nan", "malformed_output", "nan"),
        ("inf", "malformed_output", "inf"),
        ("raises", "model_raised", RAISED_MESSAGE),
    ],
)
def test_a_misbehaving_model_fails_with_a_message_and_the_worker_goes_on(
    version, researcher, good_model_bytes, tmp_path, kind, code, words
):
    path = build_raising_model(tmp_path) if kind == "raises" else build_malformed_model(tmp_path, kind)
    bad = path.read_bytes()
    failed = submit(version, researcher, bad, kind)
    assert score_submission(submission_id=failed.pk) == "failed"
    failed.refresh_from_db()
    assert failed.error_code == code
    assert words.lower() in failed.error_message.lower()
    # It failed on the public preflight items, before any hidden one: that costs no quota.
    assert failed.error_message.startswith("Preflight") and not failed.counts_against_quota
    assert not failed.metric_results.exists()  # nothing half-written
    good = submit(version, researcher, good_model_bytes, "Centroids")
    assert score_submission(submission_id=good.pk) == "scored"


def test_the_final_leaderboard_ranks_entries_with_intervals(
    version, researcher, other_researcher, good_model_bytes, weak_model_bytes
):
    # Two teams: a frozen board ranks one entry per team.
    strong = submit(version, researcher, good_model_bytes, "Strong")
    weak = submit(version, other_researcher, weak_model_bytes, "Weak")
    for submission in (strong, weak):
        score_submission(submission_id=submission.pk)
    snapshot = freeze_version(version=version)
    assert snapshot.part == "final" and snapshot.n_entries == 2
    assert snapshot.n_items == snapshot.n_final_items == version.n_test_items - snapshot.n_feedback_items
    entries = {e.submission_id: e for e in LeaderboardEntry.objects.filter(version=version)}
    strong_accuracy = strong.metric_results.get(metric="accuracy", part="final").value
    weak_accuracy = weak.metric_results.get(metric="accuracy", part="final").value
    assert strong_accuracy > weak_accuracy
    assert entries[strong.pk].rank == 1 and entries[weak.pk].rank == 2
    assert entries[strong.pk].metrics["accuracy"]["value"] == pytest.approx(strong_accuracy)
    # The same seed and B: the leaderboard's interval is the one the submission page shows.
    final = strong.metric_results.get(metric="accuracy", part="final")
    assert entries[strong.pk].metrics["accuracy"]["ci_low"] == pytest.approx(final.ci_low)
    for entry in entries.values():
        assert entry.rank_lower <= entry.rank <= entry.rank_upper
        interval = entry.metrics["accuracy"]
        assert interval["ci_low"] <= interval["value"] <= interval["ci_high"]
    assert snapshot.minimum_detectable_effect is not None and 0 < snapshot.minimum_detectable_effect < 1


def test_the_ladder_holds_a_team_score_when_a_resubmission_only_adds_noise(
    version, researcher, good_model_bytes, digits_folder, tmp_path
):
    first = submit(version, researcher, good_model_bytes, "Centroids")
    score_submission(submission_id=first.pk)
    recompute_leaderboard(version=version)
    assert LadderRelease.objects.get(submission=first).improved is True
    dev = load_benchmark(digits_folder).load_split("dev")
    noisy = centroid_model(dev.inputs, dev.labels, 10, tmp_path / "noisy.pt", noise=0.02, seed=11).read_bytes()
    again = submit(version, researcher, noisy, "Centroids, jittered")
    score_submission(submission_id=again.pk)
    recompute_leaderboard(version=version)
    held = LadderRelease.objects.get(submission=again)
    assert held.improved is False
    assert held.released == LadderRelease.objects.get(submission=first).released
    (entry,) = LeaderboardEntry.objects.filter(version=version)
    assert entry.submission_id == first.pk


def test_a_submission_withdrawn_while_running_stays_withdrawn(version, researcher, good_model_bytes, monkeypatch):
    submission = submit(version, researcher, good_model_bytes, "Centroids")
    real_evaluate = scoring.evaluate_model

    def withdraw_then_evaluate(*args, **kwargs):
        Submission.objects.get(pk=submission.pk).withdraw()
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(scoring, "evaluate_model", withdraw_then_evaluate)
    assert score_submission(submission_id=submission.pk) == "withdrawn"
    submission.refresh_from_db()
    assert submission.status == "withdrawn"


def test_a_sandbox_that_cannot_start_fails_the_submission_as_the_sites_fault(
    version, researcher, good_model_bytes, broken_bubblewrap
):
    # A real bubblewrap run that fails to create its namespaces, as on a host without user
    # namespaces: the researcher's model was never opened, so the upload must not count.
    submission = submit(version, researcher, good_model_bytes, "Centroids")
    assert score_submission(submission_id=submission.pk) == "failed"
    submission.refresh_from_db()
    assert submission.error_code == "sandbox_unavailable"
    assert "site's fault" in submission.error_message and "Resubmit later" in submission.error_message
    assert "bwrap" not in submission.error_message  # bubblewrap's words name host paths
    assert submission.counts_against_quota is False
    assert not submission.metric_results.exists()


def test_the_named_setting_allows_unsandboxed_runs_and_the_report_says_so(
    version, researcher, good_model_bytes, monkeypatch, settings
):
    from evaluation.sandbox import bwrap

    monkeypatch.setattr(bwrap, "find_bwrap", lambda: None)
    settings.ALLOW_UNSANDBOXED_MODELS = True
    submission = submit(version, researcher, good_model_bytes, "Centroids")
    assert score_submission(submission_id=submission.pk) == "scored"
    layers = submission.runs.get().provenance["sandbox"]["layers"]
    assert "unsandboxed" in layers and "bubblewrap" not in layers
