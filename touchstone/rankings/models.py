"""Leaderboard statistics, computed when what they are computed from changes, served from here."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.submissions.models import Submission


class LeaderboardSnapshot(models.Model):
    """The inputs of the last recomputation of a version's leaderboard."""

    version = models.OneToOneField(BenchmarkVersion, on_delete=models.CASCADE, related_name="snapshot")
    computed_at = models.DateTimeField(default=timezone.now)
    part = models.CharField(max_length=10, help_text="feedback (Ladder, while open) or final (once frozen)")
    n_items = models.PositiveIntegerField(help_text="Items of the part the entries are scored on.")
    n_feedback_items = models.PositiveIntegerField()
    n_final_items = models.PositiveIntegerField()
    discordance_rate = models.FloatField(null=True, blank=True)
    minimum_detectable_effect = models.FloatField(null=True, blank=True)
    n_entries = models.PositiveIntegerField()
    n_resamples = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    evaluator_version = models.CharField(max_length=40)
    computed_generation = models.PositiveBigIntegerField(
        default=0, help_text="The version's generation this leaderboard was computed from."
    )

    def __str__(self) -> str:
        return f"{self.version} leaderboard ({self.part}, {self.n_entries} entries)"


class LeaderboardEntry(models.Model):
    version = models.ForeignKey(BenchmarkVersion, on_delete=models.CASCADE, related_name="entries")
    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="entry")
    rank = models.PositiveIntegerField()
    rank_lower = models.PositiveIntegerField()
    rank_upper = models.PositiveIntegerField()
    rank_lower_simultaneous = models.PositiveIntegerField()
    rank_upper_simultaneous = models.PositiveIntegerField()
    tier = models.PositiveIntegerField()
    p_value_vs_leader = models.FloatField(null=True, blank=True)
    p_value_vs_next = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(help_text="metric name → {value, ci_low, ci_high}")
    feedback_rank = models.PositiveIntegerField(
        null=True, blank=True, help_text="Frozen boards: the team's rank on the open board when the version froze."
    )

    class Meta:
        ordering = ["version", "rank", "submission_id"]

    def __str__(self) -> str:
        return f"{self.version}: #{self.rank} {self.submission.model_name}"


class PairComparison(models.Model):
    """A stored paired comparison of two entries on one part of the hidden split.

    Outcomes of a scored submission never change, so a comparison is computed once per pair and
    part; later views read it from here instead of running another bootstrap.
    """

    version = models.ForeignKey(BenchmarkVersion, on_delete=models.CASCADE, related_name="comparisons")
    part = models.CharField(max_length=10)
    a = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    b = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    result = models.JSONField()
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "part", "a", "b"], name="unique_pair_comparison")]

    def __str__(self) -> str:
        return f"{self.version}: #{self.a_id} vs #{self.b_id} ({self.part})"
