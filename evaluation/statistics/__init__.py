"""Statistics for honest leaderboards: intervals, rank sets, tiers, tests, the Ladder.

Pure functions of arrays; every random step takes a seed (see ``evaluation.seeds``). The
methods and their parameters are described in ``docs/methods.md`` ("Uncertainty of a score",
"Ranks, tiers and p-values", "Minimum detectable effect and typical discordance", "Live
feedback: the Ladder", "Rank agreement between versions", "Item telemetry").
"""

from __future__ import annotations

from evaluation.statistics.bootstrap import (
    Interval,
    bias_corrected_interval,
    bootstrap_intervals,
    bootstrap_weight_blocks,
    bootstrap_weights,
    joint_metric_samples,
    metric_samples,
    percentile_interval,
)
from evaluation.statistics.feedback import feedback_mask
from evaluation.statistics.hypothesis_tests import (
    bootstrap_z_p_value,
    discordant_counts,
    exact_mcnemar,
    holm,
    mcnemar_power,
    minimum_detectable_effect,
    pairwise_discordant_counts,
    typical_design_effect,
    typical_discordance_rate,
)
from evaluation.statistics.intervals import (
    accuracy_intervals,
    design_effect,
    round_outward,
    wilson_interval,
)
from evaluation.statistics.irt import ItemResponseFit, fit_two_parameter_logistic
from evaluation.statistics.ladder import LadderDecision, beats_bar, ladder_replay, ladder_step, release_value
from evaluation.statistics.leaderboard import (
    Comparison,
    EntryStatistics,
    compare_entries,
    holm_family_size,
    rank_leaderboard,
)
from evaluation.statistics.ranks import competition_ranks, rank_intervals
from evaluation.statistics.simultaneous import (
    PairwiseInference,
    difference_to_best,
    max_t_pairwise,
    rank_sets,
    tiers_from_pairs,
)
from evaluation.statistics.versions import FlippedPair, VersionAgreement, kendall_tau_b, version_agreement

__all__ = [
    "Comparison",
    "EntryStatistics",
    "FlippedPair",
    "Interval",
    "ItemResponseFit",
    "LadderDecision",
    "PairwiseInference",
    "VersionAgreement",
    "accuracy_intervals",
    "beats_bar",
    "bias_corrected_interval",
    "bootstrap_intervals",
    "bootstrap_weight_blocks",
    "bootstrap_weights",
    "bootstrap_z_p_value",
    "compare_entries",
    "competition_ranks",
    "design_effect",
    "difference_to_best",
    "discordant_counts",
    "exact_mcnemar",
    "feedback_mask",
    "fit_two_parameter_logistic",
    "holm",
    "holm_family_size",
    "joint_metric_samples",
    "kendall_tau_b",
    "ladder_replay",
    "ladder_step",
    "max_t_pairwise",
    "mcnemar_power",
    "metric_samples",
    "minimum_detectable_effect",
    "pairwise_discordant_counts",
    "percentile_interval",
    "rank_intervals",
    "rank_leaderboard",
    "rank_sets",
    "release_value",
    "round_outward",
    "tiers_from_pairs",
    "typical_design_effect",
    "typical_discordance_rate",
    "version_agreement",
    "wilson_interval",
]
