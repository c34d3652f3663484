"""A submission's breakdowns on one part of the hidden split, from its stored outcome file.

Computed on request (``evaluation.breakdowns`` on a few thousand stored probabilities and the
split's metadata takes well under a second) and kept in the cache under the run's outcome file,
the part and the version's content hash, so a new run, a freeze or a changed split never serves
old numbers. Which submissions and which part may be shown is decided in ``disclosure``, never here.
"""

from __future__ import annotations

from django.core.cache import cache

from evaluation.breakdowns import breakdowns
from evaluation.parts import hidden_parts
from evaluation.spec import load_benchmark
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
    key = f"breakdowns:{submission.pk}:{part}:{version.content_hash}:{run.outcomes_path}"
    found = cache.get(key)
    if found is None:
        found = _compute(submission, run.outcomes_path, part)
        cache.set(key, found, CACHE_SECONDS)
    return found


def _compute(submission: Submission, outcomes_path: str, part: str) -> dict:
    version = submission.version
    benchmark = load_benchmark(version.folder)
    spec = benchmark.spec
    test = benchmark.load_split("test")
    clusters = test.metadata.get("cluster")
    outcomes = load_outcomes(outcomes_path)
    if outcomes["item_ids"].shape != test.item_ids.shape or (outcomes["item_ids"] != test.item_ids).any():
        raise ValueError(f"outcomes of {submission} do not match the items of {version}")
    mask = hidden_parts(
        test.item_ids, content_hash=version.content_hash, fraction=spec.feedback_fraction, clusters=clusters
    )[part]
    result = breakdowns(
        outcomes["probabilities"][mask],
        test.labels[mask],
        classes=spec.classes,
        metadata={name: column[mask] for name, column in test.metadata.items()},
        slice_columns=spec.slice_columns,
        era_column=spec.era_column,
        era_order=spec.era_order,
        clusters=None if clusters is None else clusters[mask],
    )
    return {"part": part, **result}
