"""Evaluate one model file on one split of a benchmark: the code the server and the CLI share."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.archive import inspect_model_file
from evaluation.calibration import outputs_are_probabilities
from evaluation.errors import EvaluationError
from evaluation.metrics import softmax
from evaluation.provenance import build_provenance
from evaluation.public import EvaluationData
from evaluation.sandbox import SandboxedModel, SandboxLimits
from evaluation.seeds import derive_seed
from evaluation.spec import BenchmarkSpec, Split
from evaluation.statistics import Interval, rank_leaderboard
from evaluation.suite import RunFacts, SuitePlan, SuiteRecord, run_suite

ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class EvaluationReport:
    """The result of scoring one model on one split."""

    split: str
    """Which split was scored: "dev" or "test"."""
    item_ids: np.ndarray
    """Item ids in the order of ``probabilities``."""
    probabilities: np.ndarray
    """Softmax of the model's logits, float32 [n_items, n_classes]: the per-item outcomes."""
    metrics: dict[str, dict[str, Interval]]
    """Per part of the split ("all", or "feedback" and "final"): each reported metric with its
    95% bootstrap interval."""
    sandbox: dict[str, Any]
    """What the sandbox reported (``SandboxReport`` as a dict): active layers, latencies, peak
    memory (exact)."""
    provenance: dict[str, object]
    """The public record as the site stores it (``PublicProvenance.to_dict()``): everything
    needed to reproduce the score, and its coarse cost."""
    private_record: dict[str, object] = field(default_factory=dict)
    """The private record as the site stores it (``PrivateProvenance.to_dict()``): exact timings
    and memory, per-batch latencies, host details and the plain predictions hash, for
    maintainers only (see ``evaluation.provenance``)."""
    facts: RunFacts | None = None
    """The clean pass's per-batch timings, the model's size and whether its outputs were
    already probabilities: the inputs of the cost and calibration breakdowns."""
    suite: SuiteRecord | None = None
    """Predictions under every stored corrupted copy and attack, and the saliency correlations;
    ``None`` when no suite was run."""


def _no_progress(fraction: float, message: str) -> None:
    return None


def bootstrap_seed(content_hash: str, split: str, part: str) -> int:
    """The seed of the item bootstrap of one part of a split.

    The submission page and the leaderboard use the same seed and B, so the joint bootstrap
    resamples exactly the items a lone evaluation resampled: an entry shows one interval
    everywhere.
    """
    return derive_seed(content_hash, "item-bootstrap", split, part)


def score_parts(
    probabilities: np.ndarray,
    data: Split,
    spec: BenchmarkSpec,
    *,
    content_hash: str,
    split: str,
    parts: dict[str, np.ndarray],
    n_resamples: int,
) -> dict[str, dict[str, Interval]]:
    """Every reported metric with its bootstrap interval, on each part (a boolean item mask)."""
    clusters = data.metadata.get("cluster")
    scored = {}
    for part, mask in parts.items():
        (entry,) = rank_leaderboard(
            [probabilities[mask]],
            data.labels[mask],
            metrics=list(spec.report_metrics),
            primary=spec.primary_metric,
            seed=bootstrap_seed(content_hash, split, part),
            clusters=None if clusters is None else clusters[mask],
            n_resamples=n_resamples,
        )
        scored[part] = {name: entry.metrics[name] for name in spec.report_metrics}
    return scored


def preflight_slice(dev_inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """The public items every submission runs on first: a full batch and a batch of one.

    The first ``batch_size + 1`` items of the dev split (all of them if it is smaller), so a
    model that cannot take the batch sizes of the hidden run (a fixed batch dimension, a last
    batch of one) fails here, where its traceback can be shown.
    """
    return np.ascontiguousarray(dev_inputs[: batch_size + 1], dtype=np.float32)


def run_preflight(model: SandboxedModel, inputs: np.ndarray, *, n_classes: int) -> None:
    """Predict public ``inputs``; a failure is re-raised saying it happened on the preflight."""
    try:
        model.predict(inputs, n_classes=n_classes)
    except EvaluationError as error:
        failure = type(error)(
            f"Preflight on the first {len(inputs)} items of the public dev split (every detail "
            f"is shown here; the hidden test split was not used): {error.message}",
            private_detail=error.private_detail,
        )
        failure.preflight = True
        raise failure from error


def evaluate_model(
    model_path: Path,
    dataset: EvaluationData,
    *,
    limits: SandboxLimits | None = None,
    allow_unsandboxed: bool = False,
    batch_size: int = 256,
    n_resamples: int = 2000,
    max_upload_bytes: int = 1 << 30,
    parts: dict[str, np.ndarray] | None = None,
    progress: ProgressCallback = _no_progress,
    predictions_key: bytes | None = None,
    preflight_inputs: np.ndarray | None = None,
    secret_inputs: bool = False,
    suite: SuitePlan | None = None,
) -> EvaluationReport:
    """Run ``model_path`` in the sandbox on the dataset's split and score it.

    Only the split's inputs reach the sandbox; its labels stay in this process. ``parts`` maps
    part names to boolean item masks scored separately (the whole split, as "all", by
    default). With ``predictions_key`` the public provenance carries a keyed hash of the
    predictions instead of the plain one. Raises an ``EvaluationError`` subclass whose message
    a researcher can act on.

    ``preflight_inputs`` (public items) run first, in the same sandboxed session, and a failure
    on them is reported in full. With ``secret_inputs`` a failure on the dataset's own inputs
    says only its code, in the evaluator's words: nothing the model wrote leaves the sandbox.

    With a ``suite`` the same session then runs every stored corrupted copy, the attacks and the
    saliency comparison (``evaluation.suite``), reporting "condition k of n" as it goes.
    """
    started = time.perf_counter()
    info = inspect_model_file(Path(model_path), max_bytes=max_upload_bytes)
    data, spec, split = dataset.data, dataset.spec, dataset.split
    progress(0.05, "starting the sandbox")
    with SandboxedModel(
        Path(model_path), limits=limits or SandboxLimits(), allow_unsandboxed=allow_unsandboxed, batch_size=batch_size
    ) as model:
        if preflight_inputs is not None and len(preflight_inputs):
            progress(0.1, f"preflight on {len(preflight_inputs)} public dev items")
            run_preflight(model, preflight_inputs, n_classes=len(spec.classes))
        if secret_inputs:
            model.begin_hidden_inputs()
        steps = suite.steps if suite is not None else 1
        progress(0.2, f"condition 1 of {steps}: clean, {len(data.labels)} {split} items")
        inputs = np.ascontiguousarray(data.inputs, dtype=np.float32)
        logits = model.predict(inputs, n_classes=len(spec.classes))
        session = model.report()
        sandbox_report = dataclasses.asdict(session)
        inference_seconds = time.perf_counter() - started
        record = None
        if suite is not None:
            record = run_suite(model, suite, inputs, logits, n_classes=len(spec.classes), progress=progress)
    progress(0.9, "computing metrics and intervals")
    probabilities = softmax(logits).astype(np.float32)
    masks = parts or {"all": np.ones(len(data.labels), dtype=bool)}
    metrics = score_parts(
        probabilities, data, spec, content_hash=dataset.content_hash, split=split, parts=masks, n_resamples=n_resamples
    )
    timings = {
        "inference_seconds": round(inference_seconds, 4),
        "total_seconds": round(time.perf_counter() - started, 4),
    }
    records = build_provenance(
        model_sha256=info.sha256,
        model_format=info.format,
        benchmark_slug=spec.slug,
        benchmark_version=spec.version,
        content_hash=dataset.content_hash,
        file_hashes=dataset.file_hashes,
        split=split,
        seeds={part: bootstrap_seed(dataset.content_hash, split, part) for part in masks},
        sandbox=session,
        batch_size=batch_size,
        timings=timings,
        probabilities=probabilities,
        predictions_key=predictions_key,
        n_resamples=n_resamples,
    )
    facts = RunFacts(
        batch_seconds=np.asarray(session.batch_seconds, dtype=np.float64),
        batch_items=np.asarray(_batch_items(len(data.labels), batch_size, len(session.batch_seconds)), dtype=np.int64),
        outputs_are_probabilities=outputs_are_probabilities(logits),
        parameter_count=session.parameter_count,
        peak_memory_bytes=session.peak_memory_bytes if session.peak_memory_source == "cgroup" else None,
        file_size_bytes=info.size_bytes,
    )
    progress(0.95, "writing results")
    return EvaluationReport(
        split=split,
        item_ids=data.item_ids,
        probabilities=probabilities,
        metrics=metrics,
        sandbox=sandbox_report,
        provenance=records.public.to_dict(),
        private_record=records.private.to_dict(),
        facts=facts,
        suite=record,
    )


def _batch_items(total: int, batch_size: int, batches: int) -> list[int]:
    """Items in each clean batch: whole batches, then the rest (the preflight's batches come first)."""
    sizes = [min(batch_size, total - start) for start in range(0, total, batch_size)]
    # The session's timings also hold the preflight's batches, which ran before these.
    preflight = max(0, batches - len(sizes))
    return [0] * preflight + sizes if batches >= len(sizes) else sizes[:batches]
