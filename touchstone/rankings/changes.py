"""How the order of the entries changed from a superseded version to the one that replaced it.

The entries compared are the re-evaluations on the new version (``reevaluation``) paired with
the submissions they re-evaluate. Each side contributes only what its own board may show
(``disclosure``): an open version its feedback part and only submissions the Ladder released,
a frozen or deprecated one its final part. Scores are the Ladder metric's per-item losses (for
accuracy ``1 - correct``), which both parts share and which decompose over items, as Kendall's
τ_b and its bootstrap need (``evaluation.statistics.versions.version_agreement``).

On an open side the flipped pairs' differences are shown as the open board shows a comparison
(the released values' difference with its interval rounded outward to the ``1/n`` grid,
``released_difference``), and τ_b's marginal bootstrap interval is not shown; see
``docs/methods.md``, "Changes from the previous version". Computed on read and cached under the
two versions' generations, which move with every change to what either board is computed from.
"""

from __future__ import annotations

import math

import numpy as np
from django.conf import settings
from django.core.cache import cache

from evaluation.parts import hidden_parts, ladder_losses, ladder_metric, loss_to_metric
from evaluation.released import released_difference, released_value
from evaluation.seeds import derive_seed
from evaluation.spec import load_benchmark
from evaluation.statistics import Interval
from evaluation.statistics.versions import version_agreement
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.disclosure import shows_open_board
from touchstone.rankings.models import LadderRelease, LeaderboardSnapshot
from touchstone.rankings.reevaluation import reevaluations_pending, superseded_version
from touchstone.submissions.models import Submission
from touchstone.submissions.outcomes import submission_outcomes


class _Side:
    """One version's hidden labels, the part its board shows and that part's mask."""

    def __init__(self, version: BenchmarkVersion) -> None:
        self.version = version
        self.open = shows_open_board(version)
        self.part = "feedback" if self.open else "final"
        benchmark = load_benchmark(version.folder)
        test = benchmark.load_split("test")
        clusters = test.metadata.get("cluster")
        masks = hidden_parts(
            test.item_ids,
            content_hash=version.content_hash,
            fraction=benchmark.spec.feedback_fraction,
            clusters=clusters,
        )
        self.mask = masks[self.part]
        self.item_ids = test.item_ids
        self.labels = test.labels[self.mask]
        self.clusters = None if clusters is None else clusters[self.mask]

    def shows(self, submission: Submission) -> bool:
        """Whether this side's board may show numbers of ``submission``."""
        if submission.status != Submission.Status.SCORED:
            return False
        if self.open:
            return LadderRelease.objects.filter(submission=submission, improved=True).exists()
        return True

    def losses(self, submission: Submission, metric: str) -> np.ndarray:
        outcomes = submission_outcomes(submission)
        if not np.array_equal(outcomes["item_ids"], self.item_ids):
            raise ValueError(f"the outcomes of {submission} do not match the items of {self.version}")
        return ladder_losses(outcomes["probabilities"][self.mask], self.labels, metric)


def version_changes(version: BenchmarkVersion) -> dict | None:
    """The "Changes from the previous version" of ``version``; None if it re-evaluated nothing.

    While re-evaluations are queued or running only the count pending is given.
    """
    previous = superseded_version(version)
    if previous is None:
        return None
    pending = reevaluations_pending(version)
    header = {
        "benchmark": version.benchmark.slug,
        "version": version.version,
        "previous": previous.version,
        "pending": pending,
        "complete": pending == 0,
    }
    if pending:
        return {**header, **_empty()}
    # Whatever either side shows changes with its generation (a result scored or withdrawn, a
    # freeze) or with its stored board (the Ladder's releases come with the recompute).
    key = f"version-changes:{_state(version)}:{_state(previous)}"
    computed = cache.get(key)
    if computed is None:
        computed = compute_changes(version, previous)
        cache.set(key, computed, timeout=24 * 3600)
    return {**header, **computed}


def _state(version: BenchmarkVersion) -> str:
    snapshot = LeaderboardSnapshot.objects.filter(version=version).values_list("computed_generation", "computed_at")
    board = snapshot.first()
    stored = "none" if board is None else f"{board[0]}@{board[1].isoformat()}"
    return f"{version.pk}:{version.generation}:{version.status}:{stored}"


def _empty() -> dict:
    return {
        "metric": None,
        "old_part": None,
        "new_part": None,
        "entries": [],
        "not_compared": [],
        "tau": None,
        "tau_marginal": None,
        "concordant": None,
        "undetermined": None,
        "flipped": [],
        "n_resamples": None,
        "confidence": None,
    }


def compute_changes(version: BenchmarkVersion, previous: BenchmarkVersion) -> dict:
    """Old and new rank of every re-evaluated entry both boards show, τ_b and the flipped pairs."""
    old, new = _Side(previous), _Side(version)
    metric = ladder_metric(version.primary_metric)
    reevaluations = (
        Submission.objects.filter(version=version, reevaluation_of__isnull=False)
        .select_related("reevaluation_of")
        .order_by("reevaluation_of__created_at", "reevaluation_of_id")
    )
    pairs, not_compared = [], []
    for copy in reevaluations:
        origin = copy.reevaluation_of
        if old.shows(origin) and new.shows(copy):
            pairs.append((origin, copy))
        else:
            reason = "not shown on the previous board" if not old.shows(origin) else _new_reason(copy)
            not_compared.append(
                {"submission": copy.pk, "model_name": copy.model_name, "team": copy.team, "reason": reason}
            )
    result = {**_empty(), "metric": metric, "old_part": old.part, "new_part": new.part, "not_compared": not_compared}
    if len(pairs) < 2:
        result["entries"] = [_entry(origin, copy, None, None, None, None) for origin, copy in pairs]
        return result
    old_losses = np.stack([old.losses(origin, metric) for origin, _ in pairs])
    new_losses = np.stack([new.losses(copy, metric) for _, copy in pairs])
    agreement = version_agreement(
        old_losses,
        new_losses,
        seed=derive_seed(previous.content_hash, version.content_hash, "version-changes"),
        n_resamples=settings.BOOTSTRAP_RESAMPLES,
        higher_is_better=False,
        old_clusters=old.clusters,
        new_clusters=new.clusters,
    )
    result["entries"] = [
        _entry(
            origin,
            copy,
            int(agreement.old_ranks[index]),
            int(agreement.new_ranks[index]),
            _shown_value(old, metric, old_losses[index]),
            _shown_value(new, metric, new_losses[index]),
        )
        for index, (origin, copy) in enumerate(pairs)
    ]
    either_open = old.open or new.open
    result.update(
        tau=_interval(agreement.tau),
        tau_marginal=None if either_open else _interval(agreement.tau_marginal),
        concordant=agreement.concordant,
        undetermined=agreement.undetermined,
        n_resamples=agreement.n_resamples,
        confidence=agreement.confidence,
        flipped=[
            {
                "ahead_before": pairs[flip.ahead_before][1].pk,
                "ahead_after": pairs[flip.ahead_after][1].pk,
                "old_difference": _shown_difference(flip.old_difference, metric, old, old_losses, flip),
                "new_difference": _shown_difference(flip.new_difference, metric, new, new_losses, flip),
            }
            for flip in agreement.flipped
        ],
    )
    return result


def _new_reason(copy: Submission) -> str:
    if copy.status != Submission.Status.SCORED:
        return f"{copy.status} on the new version"
    return "held by the Ladder on the new version (its team's entry there is another submission)"


def _entry(origin, copy, old_rank, new_rank, old_value, new_value) -> dict:
    return {
        "submission": copy.pk,
        "reevaluation_of": origin.pk,
        "model_name": copy.model_name,
        "team": copy.team,
        "is_baseline": copy.is_baseline,
        "old_rank": old_rank,
        "new_rank": new_rank,
        "old_value": old_value,
        "new_value": new_value,
    }


def _shown_value(side: _Side, metric: str, losses: np.ndarray) -> float:
    """The entry's score as its board shows it: the Ladder's released value while open."""
    if side.open:
        return released_value(metric, losses)
    return loss_to_metric(metric, float(losses.mean()))


def _interval(interval: Interval) -> dict | None:
    if math.isnan(interval.value):
        return None
    return interval.to_dict()


def _shown_difference(loss_difference: Interval, metric: str, side: _Side, losses: np.ndarray, flip) -> dict:
    """``score(ahead_before) - score(ahead_after)`` in the metric's units, as ``side`` may show it."""
    # Accuracy is 1 - loss, so its differences are the losses' negated; the other Ladder metrics
    # are their own losses.
    sign = -1.0 if metric == "accuracy" else 1.0
    value = sign * loss_difference.value
    low, high = sorted((sign * loss_difference.ci_low, sign * loss_difference.ci_high))
    if not side.open:
        return Interval(value, low, high).to_dict()
    n_items = int(losses.shape[1])
    a = released_value(metric, losses[flip.ahead_before])
    b = released_value(metric, losses[flip.ahead_after])
    return released_difference(metric, a, b, low, high, n_items).to_dict()
