"""Statistics for honest leaderboards: bootstrap intervals, rank intervals, tests, the Ladder.

Pure functions of arrays; every random step takes a seed (see ``evaluation.seeds``). The
methods and their parameters are described in ``docs/methods.md`` ("Uncertainty of a score",
"Ranks, tiers and p-values", "Live feedback: the Ladder").
"""

from __future__ import annotations

from evaluation.statistics.bootstrap import (
    Interval,
    bootstrap_intervals,
    bootstrap_weight_blocks,
    bootstrap_weights,
    joint_metric_samples,
    metric_samples,
    percentile_interval,
)
from evaluation.statistics.feedback import feedback_mask
from evaluation.statistics.hypothesis_tests import (
    discordant_counts,
    exact_mcnemar,
    holm,
    minimum_detectable_effect,
    paired_bootstrap_p_value,
    pairwise_discordant_counts,
    typical_discordance_rate,
)
from evaluation.statistics.ladder import LadderDecision, beats_bar, ladder_replay, ladder_step, release_value
from evaluation.statistics.leaderboard import (
    Comparison,
    EntryStatistics,
    compare_entries,
    rank_leaderboard,
)
from evaluation.statistics.ranks import assign_tiers, competition_ranks, rank_intervals

__all__ = [
    "Comparison",
    "EntryStatistics",
    "Interval",
    "LadderDecision",
    "assign_tiers",
    "beats_bar",
    "bootstrap_intervals",
    "bootstrap_weight_blocks",
    "bootstrap_weights",
    "compare_entries",
    "competition_ranks",
    "discordant_counts",
    "exact_mcnemar",
    "feedback_mask",
    "holm",
    "joint_metric_samples",
    "ladder_replay",
    "ladder_step",
    "metric_samples",
    "minimum_detectable_effect",
    "paired_bootstrap_p_value",
    "pairwise_discordant_counts",
    "percentile_interval",
    "rank_intervals",
    "rank_leaderboard",
    "release_value",
    "typical_discordance_rate",
]
