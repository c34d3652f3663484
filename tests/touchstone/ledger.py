"""Scored submissions written straight into the ledger, for tests of what is computed from it.

Ranking and comparing read only the ledger's rows and the stored per-item probabilities, so
these tests write both directly instead of running models in the sandbox (the scoring tests do
that). Each result is recorded the way the worker records one: status, scored run and outcomes
in one transaction that also marks the version's leaderboard out of date.
"""

from __future__ import annotations

import io

import numpy as np
from django.db import transaction
from django.utils import timezone

from evaluation.spec import load_benchmark
from touchstone import tasks
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.storage import write_file_atomically
from touchstone.submissions.models import EvaluationRun, Submission
from touchstone.tasks import queue_recompute


def synthetic_probabilities(labels: np.ndarray, *, accuracy: float, seed: int, n_classes: int = 10) -> np.ndarray:
    """Probabilities that put 0.8 on the true class for about ``accuracy`` of the items."""
    rng = np.random.default_rng(seed)
    right = rng.random(labels.shape[0]) < accuracy
    predicted = np.where(right, labels, (labels + 1 + rng.integers(0, n_classes - 1, labels.shape[0])) % n_classes)
    probabilities = np.full((labels.shape[0], n_classes), 0.2 / (n_classes - 1), dtype=np.float32)
    probabilities[np.arange(labels.shape[0]), predicted] = 0.8
    return probabilities


def record_result(
    version: BenchmarkVersion, owner, *, accuracy: float, seed: int, name: str = "", is_baseline: bool = False
) -> Submission:
    """A scored submission with stored outcomes, recorded as the worker records one."""
    test = load_benchmark(version.folder).load_split("test")
    submission = Submission.objects.create(
        owner=owner,
        version=version,
        model_name=name or f"model {seed}",
        team=owner.get_username(),
        is_baseline=is_baseline,
        model_path="unused.pt",
        model_format="torchscript",
        sha256="0" * 64,
        size_bytes=1,
        status=Submission.Status.RUNNING,
    )
    buffer = io.BytesIO()
    np.savez(
        buffer, probabilities=synthetic_probabilities(test.labels, accuracy=accuracy, seed=seed), item_ids=test.item_ids
    )
    relative = f"outcomes/{submission.pk}/test.npz"
    write_file_atomically(relative, [buffer.getvalue()])
    with transaction.atomic():
        EvaluationRun.objects.create(
            submission=submission,
            attempt=1,
            worker="test",
            outcome="scored",
            finished_at=timezone.now(),
            outcomes_path=relative,
        )
        Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.SCORED, scored_at=timezone.now())
        BenchmarkVersion.objects.filter(pk=version.pk).mark_leaderboard_stale()
    queue_recompute(version.pk)
    submission.refresh_from_db()
    return submission


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
