"""Reproduce a scored run: the same model file on the same data with the recorded settings.

``reproduce_run`` reads the run's provenance record and stored outcomes, runs the evaluation
again in the sandbox exactly as the worker did (split, parts, batch size, preflight, bootstrap
seeds and resamples, the robustness suite when the run had one) and compares everything with
``evaluation.reproduction``. It reads the database and private storage and writes neither: no
progress, no run row, no outcome file. ``manage.py reproduce`` prints what it returns.
"""

from __future__ import annotations

import hashlib
import platform
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from django.conf import settings

from evaluation import EVALUATOR_VERSION
from evaluation.errors import EvaluationError, SpecError
from evaluation.parts import hidden_parts
from evaluation.provenance import evaluator_revision, keyed_predictions_hash, package_versions, predictions_hash
from evaluation.provenance_records import PublicProvenance
from evaluation.public import EvaluationData
from evaluation.record_fields import RecordError
from evaluation.reproduction import (
    Check,
    Reproduction,
    compare_metrics,
    compare_probabilities,
    compare_suites,
    compare_values,
    environment_changes,
)
from evaluation.runner import evaluate_model, preflight_slice
from evaluation.spec import load_benchmark
from evaluation.suite import SuiteRecord
from touchstone.storage import fetch_file
from touchstone.submissions.limits import sandbox_limits
from touchstone.submissions.models import EvaluationRun
from touchstone.submissions.outcomes import load_outcomes
from touchstone.submissions.provenance import predictions_key
from touchstone.submissions.scoring import version_suite

Progress = Callable[[float, str], None]


class CannotReproduce(Exception):
    """The run cannot be reproduced at all (unknown, never scored, its files gone); the message says why."""


def _quiet(fraction: float, message: str) -> None:
    return None


def scored_run(run_id: int) -> EvaluationRun:
    """The run ``run_id`` if it was scored and kept its outcomes; ``CannotReproduce`` otherwise."""
    run = EvaluationRun.objects.select_related("submission__version__benchmark").filter(pk=run_id).first()
    if run is None:
        raise CannotReproduce(
            f"there is no evaluation run with id {run_id}; give the id of a scored run "
            "(a submission's runs are listed in the admin)"
        )
    name = f"run {run.pk} (attempt {run.attempt} of submission #{run.submission_id})"
    if run.outcome != "scored" or not run.outcomes_path:
        if run.outcome == "failed":
            state = f"it failed with {run.error_code or 'an unrecorded error'}"
        elif not run.outcome:
            state = "it has not finished"
        else:
            state = f"its outcome is {run.outcome!r} and it kept no outcomes"
        raise CannotReproduce(f"{name} was never scored: {state}; only a scored run has predictions to reproduce")
    return run


def reproduce_run(run_id: int, *, progress: Progress = _quiet) -> Reproduction:
    """Run ``run_id`` again in the sandbox and compare it with what was stored; writes nothing."""
    run = scored_run(run_id)
    submission = run.submission
    name = f"run {run.pk} (attempt {run.attempt} of submission #{submission.pk})"
    try:
        recorded = PublicProvenance.from_dict(run.provenance)
    except RecordError as error:
        raise CannotReproduce(f"{name}: its provenance record cannot be read ({error})") from None
    try:
        stored = load_outcomes(run.outcomes_path)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise CannotReproduce(f"{name}: its stored outcomes {run.outcomes_path} cannot be read ({error})") from None
    if "probabilities" not in stored or "item_ids" not in stored:
        raise CannotReproduce(f"{name}: its stored outcomes {run.outcomes_path} hold no probabilities or item ids")
    try:
        # Fetched without a hash to check: the hash is compared with the record below.
        model_path = fetch_file(submission.model_path)
    except FileNotFoundError:
        model_path = None
    if model_path is None or not model_path.is_file():
        raise CannotReproduce(f"{name}: the model file {submission.model_path} is missing from private storage")
    try:
        benchmark = load_benchmark(submission.version.folder)
        dataset = EvaluationData.from_folder(benchmark, recorded.benchmark.split)
    except (OSError, SpecError) as error:
        raise CannotReproduce(f"{name}: the version folder cannot be loaded ({error})") from None

    heading: dict[str, object] = {
        "run": run.pk,
        "attempt": run.attempt,
        "submission": submission.pk,
        "model_name": submission.model_name,
        "benchmark": recorded.benchmark.slug,
        "version": recorded.benchmark.version,
        "split": recorded.benchmark.split,
    }
    checks = [
        compare_values("model file", recorded.artifact.sha256, _sha256(model_path), what="sha256"),
        compare_values("version content", recorded.benchmark.content_hash, dataset.content_hash, what="content hash"),
        compare_values("version files", dict(recorded.benchmark.file_hashes), dataset.file_hashes, what="file hashes"),
    ]
    stored_probabilities = np.asarray(stored["probabilities"])
    key = predictions_key()
    # The stored file against the hash recorded when it was written: a file changed since
    # shows here, whatever the reproduction finds.
    checks.append(_stored_file(recorded, stored_probabilities, key))

    resamples = recorded.bootstrap_resamples or settings.BOOTSTRAP_RESAMPLES
    batch_size = recorded.inference.batch_size
    parts = _parts(recorded, dataset)
    stored_suite = SuiteRecord.from_arrays(stored)
    try:
        report = evaluate_model(
            model_path,
            dataset,
            limits=sandbox_limits(),
            allow_unsandboxed=settings.ALLOW_UNSANDBOXED_MODELS,
            batch_size=batch_size,
            n_resamples=resamples,
            # The file was accepted once; a limit lowered since must not refuse to reproduce it.
            max_upload_bytes=max(settings.MAX_UPLOAD_BYTES, submission.size_bytes),
            parts=parts,
            progress=progress,
            predictions_key=key,
            preflight_inputs=preflight_slice(benchmark.load_split("dev").inputs, batch_size),
            secret_inputs=True,
            suite=version_suite(benchmark, dataset) if stored_suite is not None else None,
        )
    except EvaluationError as error:
        detail = f"the reproduction failed with {error.code}: {error}"
        if error.private_detail:
            detail += f" ({error.private_detail})"
        checks.append(Check("evaluation", False, detail))
        return Reproduction(heading, tuple(checks), tuple(_changes(recorded, resamples)))

    current = PublicProvenance.from_dict(report.provenance)
    checks.append(compare_probabilities(stored_probabilities, report.probabilities))
    checks.append(_item_order(stored["item_ids"], report.item_ids))
    checks.append(
        compare_values(
            "public predictions hash",
            recorded.predictions_hmac_sha256,
            current.predictions_hmac_sha256,
            what="HMAC-SHA256",
        )
    )
    if isinstance(run.private_record, dict) and "predictions_sha256" in run.private_record:
        checks.append(
            compare_values(
                "private predictions hash",
                run.private_record["predictions_sha256"],
                report.private_record.get("predictions_sha256"),
                what="sha256",
            )
        )
    checks.append(compare_values("bootstrap seeds", dict(recorded.seeds), dict(current.seeds)))
    checks.extend(_metric_checks(run, report.metrics))
    checks.extend(compare_suites(stored_suite, report.suite))
    return Reproduction(heading, tuple(checks), tuple(_changes(recorded, resamples)))


def _parts(recorded: PublicProvenance, dataset: EvaluationData) -> dict[str, np.ndarray] | None:
    """The parts the run scored, as the worker divided them: its seeds are named by part."""
    if set(recorded.seeds) == {"feedback", "final"}:
        return hidden_parts(
            dataset.data.item_ids,
            content_hash=dataset.content_hash,
            fraction=dataset.spec.feedback_fraction,
            clusters=dataset.data.metadata.get("cluster"),
        )
    # Anything else was scored whole ("all"); a seed of another name then shows as a difference.
    return None


def _metric_checks(run: EvaluationRun, reproduced: dict) -> list[Check]:
    """The stored clean metrics against the reproduced ones, when they are this run's."""
    latest = run.submission.scored_run()
    if latest is None or latest.pk != run.pk:
        attempt = "none" if latest is None else f"attempt {latest.attempt}"
        return [
            Check(
                "metrics",
                False,
                f"the submission's stored metrics come from {attempt}, not from this run: compare that run instead",
            )
        ]
    stored: dict[str, dict[str, dict[str, float]]] = {}
    for result in run.submission.metric_results.filter(condition="clean"):
        stored.setdefault(result.part, {})[result.metric] = {
            "value": result.value,
            "ci_low": result.ci_low,
            "ci_high": result.ci_high,
        }
    return compare_metrics(
        stored,
        {part: {name: interval.to_dict() for name, interval in found.items()} for part, found in reproduced.items()},
    )


def _changes(recorded: PublicProvenance, resamples: int) -> list[str]:
    current = {
        "evaluator": {"version": EVALUATOR_VERSION, "revision": evaluator_revision()},
        "packages": package_versions(),
        "platform": {"system": platform.system(), "machine": platform.machine()},
    }
    return environment_changes(
        recorded.to_dict(), current, recorded_resamples=recorded.bootstrap_resamples, resamples=resamples
    )


def _stored_file(recorded: PublicProvenance, probabilities: np.ndarray, key: bytes) -> Check:
    """Whether the stored probabilities still give the predictions hash the run recorded."""
    if recorded.predictions_hmac_sha256 is not None:
        was, now = recorded.predictions_hmac_sha256, keyed_predictions_hash(probabilities.astype(np.float32), key)
    else:
        was, now = str(recorded.predictions_sha256), predictions_hash(probabilities)
    if was == now:
        return Check("stored outcomes", True, f"the stored file still has the recorded predictions hash {was[:16]}…")
    return Check(
        "stored outcomes",
        False,
        f"the stored file was changed after the run: its predictions hash is now {now[:16]}…, "
        f"the run recorded {was[:16]}…",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as model_file:
        for block in iter(lambda: model_file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _item_order(stored: np.ndarray, reproduced: np.ndarray) -> Check:
    """Whether the stored probabilities' rows are the split's items in the split's order."""
    if stored.shape == reproduced.shape and np.array_equal(stored, reproduced):
        return Check("item order", True, f"the same {len(stored)} item ids in the same order")
    return Check(
        "item order",
        False,
        f"the stored outcomes list {len(stored)} item ids, not the split's {len(reproduced)} in order",
    )
