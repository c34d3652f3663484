"""A submission's breakdowns on one part of the hidden split, from its stored outcome file.

Computed on request (``evaluation.breakdowns`` on a few thousand stored predictions and the
split's metadata takes about a second) and kept in the cache under the run's outcome file, the
reference model's outcome file, the part and the version's content hash, so a new run, a new
reference, a freeze or a changed split never serves old numbers. Which submissions and which
part may be shown is decided in ``disclosure``, never here.
"""

from __future__ import annotations

import numpy as np
from django.core.cache import cache

from evaluation.breakdowns import part_breakdowns as evaluation_breakdowns
from evaluation.parts import hidden_parts
from evaluation.robustness import ConditionPredictions
from evaluation.spec import BenchmarkFolder, Split, load_benchmark
from evaluation.suite import RunFacts, SuiteRecord
from touchstone.submissions.models import Submission
from touchstone.submissions.outcomes import load_outcomes

# A day: the key changes whenever the numbers could, so the timeout only bounds the cache's size.
CACHE_SECONDS = 24 * 60 * 60


def part_breakdowns(submission: Submission, part: str) -> dict | None:
    """The breakdowns of a scored submission on ``part`` (``feedback`` or ``final``), or None without a run."""
    run = submission.scored_run()
    if run is None or not run.outcomes_path:
        return None
    version = submission.version
    reference = _reference_candidates(submission)
    references = ",".join(path for _, _, path in reference)
    key = f"breakdowns:{submission.pk}:{part}:{version.content_hash}:{run.outcomes_path}:{references}"
    found = cache.get(key)
    if found is None:
        found = _compute(submission, run.outcomes_path, part, reference)
        cache.set(key, found, CACHE_SECONDS)
    return found


def _reference_candidates(submission: Submission) -> list[tuple[int, str, str]]:
    """``(pk, name, outcomes path)`` of every scored baseline of the submission's version."""
    found = []
    baselines = Submission.objects.filter(
        version_id=submission.version_id, is_baseline=True, status=Submission.Status.SCORED
    ).order_by("pk")
    for baseline in baselines:
        run = baseline.scored_run()
        if run is not None and run.outcomes_path:
            found.append((baseline.pk, baseline.model_name, run.outcomes_path))
    return found


def _part_mask(version, benchmark: BenchmarkFolder, test: Split, part: str) -> np.ndarray:
    # The published content hash, the one every seed and part of the version derives from.
    return hidden_parts(
        test.item_ids,
        content_hash=version.content_hash,
        fraction=benchmark.spec.feedback_fraction,
        clusters=test.metadata.get("cluster"),
    )[part]


def _checked(outcomes: dict[str, np.ndarray], test: Split, what: object) -> dict[str, np.ndarray]:
    if outcomes["item_ids"].shape != test.item_ids.shape or (outcomes["item_ids"] != test.item_ids).any():
        raise ValueError(f"outcomes of {what} do not match the items of its version")
    return outcomes


def _reference(
    candidates: list[tuple[int, str, str]], test: Split, mask: np.ndarray, suite: SuiteRecord
) -> tuple[str, ConditionPredictions] | None:
    """The reference model of corruption errors: the best baseline on the part with the same suite.

    Among the version's scored baselines whose stored suite has the same conditions, the one
    with the highest clean accuracy on the part's items (the earliest uploaded on a tie), so
    that corruption errors compare an entry with the strongest pinned model.
    """
    best: tuple[float, str, ConditionPredictions] | None = None
    for _, name, path in candidates:
        outcomes = _checked(load_outcomes(path), test, name)
        record = SuiteRecord.from_arrays(outcomes)
        if record is None or record.condition_keys != suite.condition_keys:
            continue
        clean = outcomes["probabilities"][mask].argmax(axis=1)
        accuracy = float((clean == test.labels[mask]).mean())
        if best is None or accuracy > best[0]:
            best = (accuracy, name, ConditionPredictions(clean=clean, corrupted=record.corrupted[:, mask]))
    return None if best is None else (best[1], best[2])


def _compute(submission: Submission, outcomes_path: str, part: str, candidates: list[tuple[int, str, str]]) -> dict:
    version = submission.version
    benchmark = load_benchmark(version.folder)
    spec = benchmark.spec
    test = benchmark.load_split("test")
    outcomes = _checked(load_outcomes(outcomes_path), test, submission)
    mask = _part_mask(version, benchmark, test, part)
    suite = SuiteRecord.from_arrays(outcomes)
    reference = None if suite is None else _reference(candidates, test, mask, suite)
    return evaluation_breakdowns(
        outcomes["probabilities"],
        test,
        spec,
        content_hash=version.content_hash,
        part=part,
        mask=mask,
        facts=RunFacts.from_arrays(outcomes),
        suite=suite,
        reference=reference,
    )


def entry_summary(submission: Submission, part: str) -> dict | None:
    """The leaderboard's summary columns of one entry, each a value with its interval (or None)."""
    found = part_breakdowns(submission, part)
    return None if found is None else summary_of(found)


def summary_of(found: dict) -> dict:
    """The summary columns of one submission's breakdowns (as ``part_breakdowns`` returns them)."""
    corruptions = found.get("corruptions")
    adversarial = found.get("adversarial")
    attack = None
    if adversarial and adversarial["attackable"] and adversarial["main"]:
        main = adversarial["main"]
        for row in adversarial["attacks"]:
            if row["name"] == main["name"] and row["eps"] == main["eps"]:
                attack = {key: row[key] for key in ("value", "low", "high")} | main
    worst = None
    for column, table in found["slices"].items():
        rows = [row for row in table["slices"] if not row["small"]] or table["slices"]
        for row in rows:
            if worst is None or row["value"] < worst["value"]:
                worst = {key: row[key] for key in ("value", "low", "high")} | {"slice": f"{column}={row['slice']}"}
    cost = found.get("cost")
    return {
        "corrupted_accuracy": corruptions["mean_accuracy"] if corruptions else None,
        "mce": corruptions["mce"] if corruptions else None,
        "adversarial_accuracy": attack,
        "ece": found["calibration"]["ece"],
        "worst_slice": worst,
        "latency_ms": cost["latency_ms"] if cost and cost["latency_ms"]["value"] is not None else None,
    }
