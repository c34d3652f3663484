"""Item telemetry for a version's maintainers: a two-parameter logistic fit per hidden item.

The responses are the board's entries (one per team, each baseline its own) right or wrong on
every item of the hidden split, read from their stored outcomes; ``evaluation.statistics.irt``
fits them (``docs/methods.md``, "Item telemetry"). Every figure is a function of the hidden
labels item by item, so the result names hidden items and is for the maintainers alone: the
page that shows it checks ``Benchmark.is_maintained_by`` and nothing public calls this module.
"""

from __future__ import annotations

import math

import numpy as np
from django.core.cache import cache

from evaluation.metrics import per_item_outcomes
from evaluation.parts import hidden_parts
from evaluation.spec import load_benchmark
from evaluation.statistics import fit_two_parameter_logistic
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.queries import leaderboard_entries
from touchstone.submissions.outcomes import submission_outcomes

#: Entries of different teams a fit needs: fewer say too little about any one item.
MINIMUM_ENTRIES = 10


def telemetry_entries(version: BenchmarkVersion) -> list:
    """The submissions of the version's stored board, one per team (and per baseline)."""
    return [entry.submission for entry in leaderboard_entries(version)]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def item_telemetry(version: BenchmarkVersion) -> dict:
    """The fit for the version's current board, or how many more entries it needs.

    Cached per version and generation: the fit changes only when the board does.
    """
    submissions = telemetry_entries(version)
    if len(submissions) < MINIMUM_ENTRIES:
        return {"ready": False, "n_entries": len(submissions), "needed": MINIMUM_ENTRIES - len(submissions)}
    key = f"telemetry:{version.pk}:{version.generation}:{','.join(str(s.pk) for s in submissions)}"
    found = cache.get(key)
    if found is None:
        found = _fit(version, submissions)
        cache.set(key, found, timeout=24 * 3600)
    return found


def _fit(version: BenchmarkVersion, submissions: list) -> dict:
    benchmark = load_benchmark(version.folder)
    test = benchmark.load_split("test")
    parts = hidden_parts(
        test.item_ids,
        content_hash=version.content_hash,
        fraction=benchmark.spec.feedback_fraction,
        clusters=test.metadata.get("cluster"),
    )
    rows = []
    for submission in submissions:
        outcomes = submission_outcomes(submission)
        if not np.array_equal(outcomes["item_ids"], test.item_ids):
            raise ValueError(f"outcomes of {submission} do not match the items of {version}")
        rows.append(per_item_outcomes(outcomes["probabilities"], test.labels)["correct"])
    responses = np.stack(rows).astype(np.int8)
    fit = fit_two_parameter_logistic(responses)
    classes = benchmark.spec.classes
    items = []
    for i, item_id in enumerate(test.item_ids):
        items.append(
            {
                "item_id": str(item_id),
                "part": "feedback" if parts["feedback"][i] else "final",
                "label": classes[int(test.labels[i])],
                "share_correct": float(responses[:, i].mean()),
                "difficulty": _number(fit.difficulty[i]),
                "difficulty_se": _number(fit.difficulty_se[i]),
                "discrimination": _number(fit.discrimination[i]),
                "discrimination_se": _number(fit.discrimination_se[i]),
                "all_correct": bool(fit.all_correct[i]),
                "all_wrong": bool(fit.all_wrong[i]),
                "negative_discrimination": bool(fit.negative_discrimination[i]),
                "possibly_mislabelled": bool(fit.possibly_mislabelled[i]),
            }
        )
    return {
        "ready": True,
        "n_entries": len(submissions),
        "n_items": len(items),
        "n_fitted": int((~(fit.all_correct | fit.all_wrong)).sum()),
        "n_all_correct": int(fit.all_correct.sum()),
        "n_all_wrong": int(fit.all_wrong.sum()),
        "n_negative": int(fit.negative_discrimination.sum()),
        "converged": fit.converged,
        "iterations": fit.iterations,
        "entries": [
            {"submission": s.pk, "model_name": s.model_name, "team": s.team, "ability": _number(a)}
            for s, a in zip(submissions, fit.ability, strict=True)
        ],
        "items": items,
    }
