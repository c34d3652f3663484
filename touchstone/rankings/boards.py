"""Computing a version's leaderboard from what a recompute read, without touching the database.

Open versions are ranked on the feedback part by Ladder-released scores, one entry per team
(each pinned baseline is its own entry); frozen versions on the final part with every metric,
one entry per team chosen from its final submissions (``finals``). Either way one joint
bootstrap is shared by all entries. This is the slow part of a recompute (reading every outcome
file, the bootstrap, the comparisons of adjacent ranks), so it runs outside any transaction:
``services`` reads its inputs before and swaps its result in after, each in a short transaction.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from evaluation import EVALUATOR_VERSION
from evaluation.metrics import METRICS, per_item_outcomes
from evaluation.parts import hidden_parts, ladder_metric, round_metric_to_grid
from evaluation.runner import bootstrap_seed
from evaluation.spec import load_benchmark
from evaluation.statistics import Interval, minimum_detectable_effect, rank_leaderboard, typical_discordance_rate
from evaluation.statistics.ranks import competition_ranks
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.comparisons import pair_result
from touchstone.rankings.finals import FinalChoices, choose_final_entries, prediction_fingerprint
from touchstone.rankings.ladder import Release, ladder_group, replay_ladders
from touchstone.rankings.models import LeaderboardEntry
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
    releases: dict[int, Release]
    """The Ladder's releases that differ from what the submissions' rows hold; none once frozen."""
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
    masks = hidden_parts(test.item_ids, content_hash=version.content_hash, fraction=spec.feedback_fraction)
    mask = masks[part]
    submissions, probabilities, fingerprints = [], [], []
    for submission, outcomes_path in inputs.ledger:
        outcomes = load_outcomes(outcomes_path)
        if not np.array_equal(outcomes["item_ids"], test.item_ids):
            raise ValueError(f"outcomes of {submission} do not match the items of {version}")
        submissions.append(submission)
        probabilities.append(outcomes["probabilities"][mask])
        if part == "final":
            fingerprints.append(prediction_fingerprint(outcomes["probabilities"]))
    labels = test.labels[mask]
    clusters = test.metadata.get("cluster")
    clusters = None if clusters is None else clusters[mask]
    releases: dict[int, Release] = {}
    if part == "final":
        entries = _final_entries(
            version, spec, probabilities, submissions, labels, clusters, fingerprints, inputs.final_choices
        )
    else:
        entries, releases = _feedback_entries(version, spec, probabilities, submissions, labels, clusters)
    entries.sort(key=lambda entry: (entry.rank, entry.submission.pk))
    releases = {
        submission.pk: release
        for submission in submissions
        if (release := releases.get(submission.pk)) is not None
        and (submission.ladder_released, submission.ladder_improved) != (release.released, release.improved)
    }
    by_id = {submission.pk: p for submission, p in zip(submissions, probabilities, strict=True)}
    # A frozen board's typical discordance is over its own entries, one per team: a team's other
    # submissions and duplicates would pull it towards the small differences between them.
    pool = [by_id[entry.submission.pk] for entry in entries] if part == "final" else probabilities
    discordance = math.nan
    if len(pool) >= 2:
        correct = np.stack([per_item_outcomes(p, labels)["correct"] for p in pool], axis=1)
        discordance = typical_discordance_rate(correct)
    effect = minimum_detectable_effect(len(labels), discordance) if math.isfinite(discordance) else math.inf
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
        generation=inputs.generation, entries=entries, snapshot=snapshot, releases=releases, comparisons=comparisons
    )


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
        metrics=metrics,
    )


def _feedback_entries(
    version, spec, probabilities, submissions, labels, clusters
) -> tuple[list[LeaderboardEntry], dict[int, Release]]:
    metric = ladder_metric(spec.primary_metric)
    replay = replay_ladders(submissions, probabilities, labels, metric=metric)
    standings = list(replay.standings.values())
    if not standings:
        return [], replay.releases
    chosen = [submissions.index(standing.best) for standing in standings]
    statistics = rank_leaderboard(
        [probabilities[i] for i in chosen],
        labels,
        metrics=[metric],
        primary=metric,
        seed=bootstrap_seed(version.content_hash, "test", "feedback"),
        clusters=clusters,
        n_resamples=settings.BOOTSTRAP_RESAMPLES,
    )
    released = np.array([standing.released for standing in standings])
    ranks = competition_ranks(released, higher_is_better=METRICS[metric].higher_is_better)
    n_items = len(labels)
    entries = []
    for standing, stats, rank in zip(standings, statistics, ranks, strict=True):
        interval = stats.metrics[metric]
        # Only grid-rounded numbers leave the feedback part, like the Ladder's released value.
        shown = Interval(
            standing.released,
            round_metric_to_grid(metric, interval.ci_low, n_items),
            round_metric_to_grid(metric, interval.ci_high, n_items),
        )
        entries.append(_entry(version, standing.best, stats, int(rank), {metric: shown.to_dict()}))
    return entries, replay.releases


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
