"""Leaderboard statistics, computed once per new result and served from here."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from leaderboard.benchmarks.models import BenchmarkVersion
from leaderboard.submissions.models import Submission


class LeaderboardSnapshot(models.Model):
    """The inputs of the last recomputation of a version's leaderboard."""

    version = models.OneToOneField(BenchmarkVersion, on_delete=models.CASCADE, related_name="snapshot")
    computed_at = models.DateTimeField(default=timezone.now)
    n_items = models.PositiveIntegerField()
    n_entries = models.PositiveIntegerField()
    n_resamples = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    evaluator_version = models.CharField(max_length=40)


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
    metrics = models.JSONField(help_text="metric name → {value, ci_low, ci_high}")

    class Meta:
        ordering = ["version", "rank", "submission_id"]

    def __str__(self) -> str:
        return f"{self.version}: #{self.rank} {self.submission.model_name}"
