"""Computing a version's leaderboard from what a recompute read, without touching the database.

Open versions are ranked on the feedback part by Ladder-released scores, one entry per team
(each pinned baseline is its own entry), from released submissions only; frozen versions on
the final part with every metric, one entry per team chosen from its final submissions
(``finals``). Either way one joint bootstrap is shared by all entries. This is the slow part of
a recompute (reading every outcome file, the bootstrap, the comparisons of adjacent ranks), so
it runs outside any transaction: ``services`` reads its inputs before and swaps its result in
after, each in a short transaction.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from evaluation import EVALUATOR_VERSION
from evaluation.metrics import METRICS, per_item_outcomes
from evaluation.parts import hidden_parts, ladder_metric
from evaluation.runner import bootstrap_seed
from evaluation.spec import load_benchmark
from evaluation.statistics import (
    holm_family_size,
    minimum_detectable_effect,
    rank_leaderboard,
    typical_design_effect,
    typical_discordance_rate,
)
from evaluation.statistics.ranks import competition_ranks
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.comparisons import pair_result
from touchstone.rankings.finals import FinalChoices, choose_final_entries, prediction_fingerprint
from touchstone.rankings.ladder import continue_ladders, ladder_group, ladder_states
from touchstone.rankings.models import LadderRelease, LeaderboardEntry
from touchstone.submissions.models import Submission
from touchstone.submissions.outcomes import load_outcomes


@dataclass(frozen=True)
class BoardInputs:
    """What a recompute reads from the database, all in one short transaction."""

    version: BenchmarkVersion
    """The version as read; its status decides the part."""
    generation: int
    """The version's generation when it was read, before the ledger (see ``read_board_inputs``)."""
    ledger: list[tuple[Submission, str]]
    """Public scored submissions in scoring order, each with its stored outcomes' path."""
    stored_pairs: frozenset[tuple[int, int]]
    """(a, b) of the comparisons already stored on the board's part."""
    log: list[LadderRelease]
    """The version's release log in sequence order, read before the ledger."""
    withdrawn_bests: dict[int, str]
    """Outcome paths of teams' bests (per the log) that are no longer public: the bar stays theirs."""
    final_choices: FinalChoices = field(default_factory=FinalChoices)
    """Frozen boards: the teams' final submissions and their ranks when the version froze."""

    @property
    def part(self) -> str:
        return "final" if self.version.reveals_final_scores else "feedback"


@dataclass(frozen=True)
class Board:
    """A computed leaderboard, ready to be swapped in."""

    generation: int
    """The generation of the inputs it was computed from."""
    entries: list[LeaderboardEntry]
    """Unsaved entries in rank order."""
    snapshot: dict[str, object]
    """The fields of the version's ``LeaderboardSnapshot``."""
    releases: list[LadderRelease]
    """Unsaved releases of the submissions scored since the log was read; none once frozen."""
    log_position: int
    """The sequence of the last release the board was computed from (0 for an empty log)."""
    comparisons: list[tuple[int, int, dict]]
    """(a, b, result) for adjacent entries whose comparison was not stored yet."""


def compute_board(inputs: BoardInputs) -> Board:
    """Rank the ledger of ``inputs`` with one joint bootstrap and compare adjacent entries.

    Reads the hidden split and the outcome files; reads and writes no database row.
    """
    version, part = inputs.version, inputs.part
    benchmark = load_benchmark(version.folder)
    spec = benchmark.spec
    test = benchmark.load_split("test")
    all_clusters = test.metadata.get("cluster")
    masks = hidden_parts(
        test.item_ids, content_hash=version.content_hash, fraction=spec.feedback_fraction, clusters=all_clusters
    )
    mask = masks[part]
    submissions, probabilities, fingerprints = [], [], []
    for submission, outcomes_path in inputs.ledger:
        submissions.append(submission)
        full = _outcome_probabilities(outcomes_path, test.item_ids, submission, version)
        probabilities.append(full[mask])
        if part == "final":
            fingerprints.append(prediction_fingerprint(full))
    labels = test.labels[mask]
    clusters = None if all_clusters is None else all_clusters[mask]
    releases: list[LadderRelease] = []
    by_id = {submission.pk: p for submission, p in zip(submissions, probabilities, strict=True)}
    if part == "final":
        entries = _final_entries(
            version, spec, probabilities, submissions, labels, clusters, fingerprints, inputs.final_choices
        )
        # A frozen board's typical discordance is over its own entries, one per team: a team's other
        # submissions and duplicates would pull it towards the small differences between them.
        pool = [by_id[entry.submission.pk] for entry in entries]
    else:
        # The Ladder also needs the bests withdrawn since: their bar stays the team's.
        by_submission = dict(by_id)
        for pk, outcomes_path in inputs.withdrawn_bests.items():
            by_submission[pk] = _part_probabilities(outcomes_path, test.item_ids, mask, pk, version)
        entries, releases = _feedback_entries(inputs, spec, by_submission, labels, clusters)
        # Cross-team pairs of released entries only: one entry per team and no unreleased score.
        pool = [by_submission[entry.submission.pk] for entry in entries]
    entries.sort(key=lambda entry: (entry.rank, entry.submission.pk))
    discordance, effect = _discordance_and_detectable_effect(pool, labels, clusters)
    comparisons = []
    for above, below in itertools.pairwise(entries):
        a_id, b_id = above.submission.pk, below.submission.pk
        if (a_id, b_id) not in inputs.stored_pairs:
            result = pair_result(
                version,
                a_id,
                b_id,
                part=part,
                probabilities_a=by_id[a_id],
                probabilities_b=by_id[b_id],
                labels=labels,
                clusters=clusters,
            )
            comparisons.append((a_id, b_id, result))
    snapshot = {
        "part": part,
        "n_items": int(mask.sum()),
        "n_feedback_items": int(masks["feedback"].sum()),
        "n_final_items": int(masks["final"].sum()),
        "discordance_rate": discordance if math.isfinite(discordance) else None,
        "minimum_detectable_effect": effect if math.isfinite(effect) else None,
        "n_entries": len(entries),
        "n_resamples": settings.BOOTSTRAP_RESAMPLES,
        "seed": bootstrap_seed(version.content_hash, "test", part),
        "evaluator_version": EVALUATOR_VERSION,
    }
    return Board(
        generation=inputs.generation,
        entries=entries,
        snapshot=snapshot,
        releases=releases,
        log_position=inputs.log[-1].sequence if inputs.log else 0,
        comparisons=comparisons,
    )


def _outcome_probabilities(path: str, item_ids: np.ndarray, submission, version) -> np.ndarray:
    outcomes = load_outcomes(path)
    if not np.array_equal(outcomes["item_ids"], item_ids):
        raise ValueError(f"outcomes of {submission} do not match the items of {version}")
    return outcomes["probabilities"]


def _part_probabilities(path: str, item_ids: np.ndarray, mask: np.ndarray, submission, version) -> np.ndarray:
    return _outcome_probabilities(path, item_ids, submission, version)[mask]


def _discordance_and_detectable_effect(
    probabilities: list[np.ndarray], labels: np.ndarray, clusters: np.ndarray | None
) -> tuple[float, float]:
    """The entries' typical discordance and the exact McNemar test's minimum detectable effect.

    The effect is taken at the strictest Holm level of the family ``rank_leaderboard`` adjusts
    for the board's entries (``2E - 3`` tests); with clusters the items count as ``n / deff``
    independent ones, ``deff`` the median design effect of the entries' pairwise differences.
    ``nan`` and ``inf`` with fewer than two entries.
    """
    if len(probabilities) < 2:
        return math.nan, math.inf
    correct = np.stack([per_item_outcomes(p, labels)["correct"] for p in probabilities], axis=1)
    discordance = typical_discordance_rate(correct)
    design = 1.0 if clusters is None else float(typical_design_effect(correct, clusters))
    effect = minimum_detectable_effect(
        len(labels), discordance, family_size=holm_family_size(len(probabilities)), design_effect=design
    )
    return discordance, effect


def _entry(version, submission, statistics, rank: int, metrics: dict) -> LeaderboardEntry:
    return LeaderboardEntry(
        version=version,
        submission=submission,
        rank=rank,
        # The point rank always lies inside the interval shown beside it.
        rank_lower=min(statistics.rank_lower, rank),
        rank_upper=max(statistics.rank_upper, rank),
        rank_lower_simultaneous=min(statistics.rank_lower_simultaneous, rank),
        rank_upper_simultaneous=max(statistics.rank_upper_simultaneous, rank),
        tier=statistics.tier,
        p_value_vs_leader=statistics.p_value_vs_leader,
        p_value_vs_next=statistics.p_value_vs_next,
        difference_to_leader=(
            statistics.difference_to_leader.to_dict() if statistics.difference_to_leader is not None else None
        ),
        metrics=metrics,
    )


def _feedback_entries(
    inputs: BoardInputs, spec, probabilities: dict[int, np.ndarray], labels: np.ndarray, clusters: np.ndarray | None
) -> tuple[list[LeaderboardEntry], list[LadderRelease]]:
    """One entry per team: its best, if still public, shown with the value the Ladder released.

    Continues the Ladder over the submissions scored since the log was read. Every number of
    an entry comes from released submissions alone: the value and its interval from the
    entry's own release, rank intervals and tiers from the joint bootstrap of the entries.
    Their p-values are not kept: with ``n`` they would pin the discordant counts of a pair.
    """
    version = inputs.version
    metric = ladder_metric(spec.primary_metric)
    logged = {release.submission_id for release in inputs.log}
    new = [submission for submission, _ in inputs.ledger if submission.pk not in logged]
    releases = continue_ladders(
        inputs.log, new, probabilities.__getitem__, labels=labels, clusters=clusters, metric=metric
    )
    public = {submission.pk: submission for submission, _ in inputs.ledger}
    # A team whose best was withdrawn has no entry until it beats that best.
    standing = [
        release for release in ladder_states([*inputs.log, *releases]).values() if release.submission_id in public
    ]
    if not standing:
        return [], releases
    statistics = rank_leaderboard(
        [probabilities[release.submission_id] for release in standing],
        labels,
        metrics=[metric],
        primary=metric,
        seed=bootstrap_seed(version.content_hash, "test", "feedback"),
        clusters=clusters,
        n_resamples=settings.BOOTSTRAP_RESAMPLES,
    )
    ranks = competition_ranks(
        np.array([release.released for release in standing]), higher_is_better=METRICS[metric].higher_is_better
    )
    entries = []
    for release, stats, rank in zip(standing, statistics, ranks, strict=True):
        shown = {metric: {"value": release.released, "ci_low": release.ci_low, "ci_high": release.ci_high}}
        entry = _entry(version, public[release.submission_id], stats, int(rank), shown)
        entry.p_value_vs_leader = entry.p_value_vs_next = entry.difference_to_leader = None
        entries.append(entry)
    return entries, releases


def _final_entries(
    version, spec, probabilities, submissions, labels, clusters, fingerprints, choices: FinalChoices
) -> list[LeaderboardEntry]:
    primary = METRICS[spec.primary_metric]
    scores = [float(primary.function(p, labels)) for p in probabilities]
    chosen = choose_final_entries(submissions, fingerprints, scores, choices, higher_is_better=primary.higher_is_better)
    # One entry per team, so the Holm family, the tiers and the rank intervals count teams.
    statistics = rank_leaderboard(
        [probabilities[index] for index in chosen],
        labels,
        metrics=list(spec.report_metrics),
        primary=spec.primary_metric,
        seed=bootstrap_seed(version.content_hash, "test", "final"),
        clusters=clusters,
        n_resamples=settings.BOOTSTRAP_RESAMPLES,
    )
    entries = []
    for index, stats in zip(chosen, statistics, strict=True):
        submission = submissions[index]
        entry = _entry(
            version,
            submission,
            stats,
            stats.rank,
            {name: interval.to_dict() for name, interval in stats.metrics.items()},
        )
        entry.feedback_rank = choices.feedback_ranks.get(ladder_group(submission))
        entries.append(entry)
    return entries
