"""Scored submissions written straight into the ledger, for tests of what is computed from it.

Ranking and comparing read only the ledger's rows and the stored per-item probabilities, so
these tests write both directly instead of running models in the sandbox (the scoring tests do
that). Each result is recorded the way the worker records one: status, scored run and outcomes
in one transaction that also marks the version's leaderboard out of date.
"""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evaluation.parts import hidden_parts
from evaluation.runner import score_parts
from evaluation.spec import load_benchmark
from evaluation.splits import Split
from touchstone import tasks
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.storage import write_file_atomically
from touchstone.submissions.models import EvaluationRun, MetricResult, Submission
from touchstone.tasks import queue_recompute


def synthetic_predictions(labels: np.ndarray, *, accuracy: float, seed: int, n_classes: int = 10) -> np.ndarray:
    """Predicted classes that are right for about ``accuracy`` of the items."""
    rng = np.random.default_rng(seed)
    right = rng.random(labels.shape[0]) < accuracy
    return np.where(right, labels, (labels + 1 + rng.integers(0, n_classes - 1, labels.shape[0])) % n_classes)


def probabilities_of(predictions: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Probabilities that put 0.8 on each item's predicted class."""
    probabilities = np.full((predictions.shape[0], n_classes), 0.2 / (n_classes - 1), dtype=np.float32)
    probabilities[np.arange(predictions.shape[0]), predictions] = 0.8
    return probabilities


def synthetic_probabilities(labels: np.ndarray, *, accuracy: float, seed: int, n_classes: int = 10) -> np.ndarray:
    """Probabilities that put 0.8 on the true class for about ``accuracy`` of the items."""
    return probabilities_of(synthetic_predictions(labels, accuracy=accuracy, seed=seed, n_classes=n_classes), n_classes)


def record_result(
    version: BenchmarkVersion, owner, *, accuracy: float, seed: int, name: str = "", is_baseline: bool = False
) -> Submission:
    """A scored submission with stored outcomes, recorded as the worker records one."""
    test = load_benchmark(version.folder).load_split("test")
    probabilities = synthetic_probabilities(test.labels, accuracy=accuracy, seed=seed)
    return record_probabilities(version, owner, probabilities, name=name or f"model {seed}", is_baseline=is_baseline)


def record_probabilities(
    version: BenchmarkVersion,
    owner,
    probabilities: np.ndarray,
    *,
    name: str,
    is_baseline: bool = False,
    pk: int | None = None,
    at: datetime | None = None,
    with_metrics: bool = False,
) -> Submission:
    """A scored submission whose stored outcomes are ``probabilities`` (one row per test item).

    ``pk`` and ``at`` (its creation and scoring time) fix what would otherwise differ between
    two runs of the same history. ``with_metrics`` also stores every reported metric with its
    interval on both parts, as the worker does (a bootstrap per part, so only where needed).
    """
    benchmark = load_benchmark(version.folder)
    test = benchmark.load_split("test")
    when = at or timezone.now()
    submission = Submission.objects.create(
        pk=pk,
        owner=owner,
        version=version,
        model_name=name,
        team=owner.get_username(),
        is_baseline=is_baseline,
        model_path="unused.pt",
        model_format="torchscript",
        sha256="0" * 64,
        size_bytes=1,
        status=Submission.Status.RUNNING,
        created_at=when,
    )
    buffer = io.BytesIO()
    np.savez(buffer, probabilities=probabilities, item_ids=test.item_ids)
    relative = f"outcomes/{submission.pk}/test.npz"
    write_file_atomically(relative, [buffer.getvalue()])
    scores = {}
    if with_metrics:
        parts = hidden_parts(
            test.item_ids,
            content_hash=version.content_hash,
            fraction=benchmark.spec.feedback_fraction,
            clusters=test.metadata.get("cluster"),
        )
        scores = score_parts(
            probabilities,
            test,
            benchmark.spec,
            content_hash=version.content_hash,
            split="test",
            parts=parts,
            n_resamples=settings.BOOTSTRAP_RESAMPLES,
        )
    with transaction.atomic():
        for part, metrics in scores.items():
            for metric, interval in metrics.items():
                MetricResult.objects.create(submission=submission, part=part, metric=metric, **interval.to_dict())
        EvaluationRun.objects.create(
            submission=submission,
            attempt=1,
            worker="test",
            outcome="scored",
            started_at=when,
            finished_at=when,
            outcomes_path=relative,
        )
        Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.SCORED, scored_at=when)
        BenchmarkVersion.objects.filter(pk=version.pk).mark_leaderboard_stale()
    queue_recompute(version.pk)
    submission.refresh_from_db()
    return submission


def hidden_split(folder) -> tuple[Split, dict[str, np.ndarray]]:
    """A benchmark folder's hidden split and its feedback and final masks, as the site divides it."""
    benchmark = load_benchmark(folder)
    test = benchmark.load_split("test")
    parts = hidden_parts(
        test.item_ids,
        content_hash=benchmark.content_hash,
        fraction=benchmark.spec.feedback_fraction,
        clusters=test.metadata.get("cluster"),
    )
    return test, parts


class Hidden:
    """A version's hidden labels and its feedback items, to build predictions with exact scores."""

    def __init__(self, version: BenchmarkVersion) -> None:
        test, parts = hidden_split(version.folder)
        self.labels = test.labels
        self.feedback = np.flatnonzero(parts["feedback"])

    def predictions_wrong_on(self, count: int) -> np.ndarray:
        """Predictions wrong on exactly the first ``count`` feedback items (the next class) and right elsewhere."""
        predictions = self.labels.copy()
        chosen = self.feedback[:count]
        predictions[chosen] = (self.labels[chosen] + 1) % 10
        return predictions

    def wrong_on(self, count: int) -> np.ndarray:
        """Probabilities of ``predictions_wrong_on(count)``."""
        return probabilities_of(self.predictions_wrong_on(count))

    def accuracy_when_wrong_on(self, count: int) -> float:
        return 1 - count / self.feedback.size


def capture_enqueued(monkeypatch) -> list[tuple[str, int]]:
    """Record the tasks the code under test queues, instead of sending them to a broker.

    Returns the list that fills with ``(task, id)`` as transactions commit; a test runs the
    recomputes itself, in the order a single worker would.
    """
    queued: list[tuple[str, int]] = []

    def recompute(version_id: int) -> None:
        queued.append(("recompute", version_id))

    def evaluate(submission_id: int) -> None:
        queued.append(("evaluate", submission_id))

    monkeypatch.setattr(tasks.recompute_leaderboard, "delay", recompute)
    monkeypatch.setattr(tasks.evaluate_submission, "delay", evaluate)
    return queued
