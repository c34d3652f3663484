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
    difference_to_leader = models.JSONField(
        null=True,
        blank=True,
        help_text="Frozen boards: the primary metric minus the best of the other entries', with its simultaneous "
        "interval ({value, ci_low, ci_high}); for the leader, its lead over the runner-up.",
    )
    feedback_rank = models.PositiveIntegerField(
        null=True, blank=True, help_text="Frozen boards: the team's rank on the open board when the version froze."
    )
    summary = models.JSONField(
        null=True,
        blank=True,
        help_text="The summary columns from the entry's breakdowns on the board's part: corrupted accuracy, mCE, "
        "adversarial accuracy, ECE, worst slice, latency, each {value, low, high} or null.",
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


class AppendOnlyError(PermissionError):
    """A change to the Ladder's release log, which only ever grows."""

    def __init__(self) -> None:
        super().__init__(
            "the Ladder's release log is append-only: a release is never changed or deleted, "
            "and withdrawing a submission only hides it from the leaderboard"
        )


class LadderReleaseQuerySet(models.QuerySet):
    """Reads of the log; bulk changes are refused like single ones."""

    def update(self, **kwargs):
        raise AppendOnlyError

    def delete(self):
        raise AppendOnlyError

    def improving(self) -> LadderReleaseQuerySet:
        """Releases of submissions that beat their team's bar: the released submissions."""
        return self.filter(improved=True)


class LadderRelease(models.Model):
    """What the Ladder did with one submission on an open version, in the order it did it.

    One row per submission, written by the first recompute that finds it scored, and never
    changed: the Ladder's state (each team's best and shown value) is read back from here, so
    withdrawing a submission hides it without undoing or redoing any release. A submission is
    *released* when its row says ``improved``; while a version is open only released
    submissions contribute numbers to what it shows (``touchstone.rankings.disclosure``).
    """

    version = models.ForeignKey(BenchmarkVersion, on_delete=models.PROTECT, related_name="ladder_releases")
    submission = models.OneToOneField(Submission, on_delete=models.PROTECT, related_name="ladder_release")
    group = models.CharField(max_length=140, help_text="Whose Ladder: team:<name>, or baseline:<id> for a baseline.")
    sequence = models.PositiveIntegerField(help_text="Position in the version's log, from 1, without gaps.")
    metric = models.CharField(max_length=40, help_text="The metric the Ladder released.")
    n_items = models.PositiveIntegerField(help_text="Items of the feedback part; values lie on the 1/n grid.")
    released = models.FloatField(help_text="The team's shown value after this submission, in the metric's units.")
    improved = models.BooleanField(help_text="Whether the submission beat its team's bar (and so was released).")
    ci_low = models.FloatField(null=True, blank=True, help_text="Released submissions: interval shown with the value.")
    ci_high = models.FloatField(null=True, blank=True, help_text="Released submissions: interval shown with the value.")
    created_at = models.DateTimeField(default=timezone.now)

    objects = LadderReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["version", "sequence"]
        constraints = [models.UniqueConstraint(fields=["version", "sequence"], name="unique_release_sequence")]

    def __str__(self) -> str:
        verdict = "released" if self.improved else "held"
        return f"{self.version} #{self.sequence}: submission {self.submission_id} {verdict} ({self.released:.4f})"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError
