"""Submissions, their evaluation runs, their scores and the baselines pinned for them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.urls import reverse
from django.utils import timezone

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.submissions.models.teams import is_teammate, teams_q
from touchstone.submissions.provenance import cost_summary, public_provenance


class SubmissionQuerySet(models.QuerySet):
    def public(self) -> SubmissionQuerySet:
        """Scored and not withdrawn: what visitors see on leaderboards."""
        return self.filter(status=Submission.Status.SCORED)

    def visible_to(self, user) -> SubmissionQuerySet:
        """Scored ones, and the user's own and their teams' submissions whatever their status."""
        if user.is_authenticated:
            return self.filter(models.Q(status=Submission.Status.SCORED) | models.Q(owner=user) | teams_q(user))
        return self.public()


class BaselinePin(models.Model):
    """A baseline model pinned by its file's SHA-256 and the recipe that trained it.

    Every version of the benchmark gets the pinned file, byte for byte: a pin is added to a new
    version by ``add_baselines`` and by the re-evaluation that follows a publication, and a file
    whose hash differs from the pin is refused. The recipe says how to train the same file again.
    """

    benchmark = models.ForeignKey("benchmarks.Benchmark", on_delete=models.PROTECT, related_name="baseline_pins")
    name = models.CharField(max_length=120, help_text="Model name shown on the leaderboard.")
    description = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64)
    model_path = models.CharField(max_length=300, help_text="The pinned file, relative to private storage.")
    model_format = models.CharField(max_length=20)
    size_bytes = models.BigIntegerField()
    recipe = models.JSONField(default=dict, help_text="How the file was trained: recipe, seed, data, hyperparameters.")
    command = models.CharField(max_length=300, blank=True, help_text="The command that trains the file again.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["benchmark", "name", "created_at"]
        constraints = [models.UniqueConstraint(fields=["benchmark", "sha256"], name="unique_baseline_pin")]

    def __str__(self) -> str:
        return f"{self.benchmark} baseline {self.name} ({self.sha256[:12]})"


class Submission(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SCORED = "scored"
        FAILED = "failed"
        WITHDRAWN = "withdrawn"

    class Origin(models.TextChoices):
        """Why the submission exists. Anything but an upload waits in the background queue."""

        UPLOAD = "upload"
        REEVALUATION = "reevaluation", "re-evaluation"
        BASELINE = "baseline", "pinned baseline"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submissions")
    version = models.ForeignKey(BenchmarkVersion, on_delete=models.PROTECT, related_name="submissions")
    model_name = models.CharField(max_length=120)
    team = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    paper_url = models.URLField(blank=True)
    code_url = models.URLField(blank=True)
    is_baseline = models.BooleanField(default=False)

    model_path = models.CharField(max_length=300, help_text="Relative to private storage.")
    model_format = models.CharField(max_length=20)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    progress_message = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    counts_against_quota = models.BooleanField(default=True)
    # Set while the team counts this submission among its (at most two) final submissions, which
    # the frozen board chooses the team's entry from; fixed once the version freezes.
    final_marked_at = models.DateTimeField(null=True, blank=True)
    origin = models.CharField(max_length=12, choices=Origin.choices, default=Origin.UPLOAD)
    # A re-evaluation is the same model file, team and owner as an entry of the version this one
    # superseded; it runs on the new version without counting against any quota.
    reevaluation_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reevaluations"
    )
    baseline_pin = models.ForeignKey(
        BaselinePin, on_delete=models.PROTECT, null=True, blank=True, related_name="submissions"
    )
    # Background work (re-evaluations, pinned baselines) waits in the database until the
    # dispatcher hands it to the workers (``touchstone.submissions.queueing``); set when it did.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # The fence: the one evaluation run allowed to write this row's results. Every write of a
    # run (progress, heartbeat, metrics, outcomes, status) is conditional on still being it, so
    # a run that lost the row (taken over after its heartbeat went stale, cancelled by a
    # freeze) changes nothing and learns that it lost (``touchstone.submissions.runs``).
    current_run = models.ForeignKey("EvaluationRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Written by the running worker every few seconds with the database's clock; a running row
    # whose heartbeat is older than ``HEARTBEAT_STALE_SECONDS`` by that clock lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The version's generation at the commit that scored the row: commits that score on one
    # version take turns on the version's row, so this orders results as they committed,
    # whatever the workers' clocks said. The Ladder replays new results in this order.
    scored_sequence = models.PositiveBigIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    objects = SubmissionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["version", "status"]),
            models.Index(fields=["owner", "version", "created_at"]),
            models.Index(fields=["status", "origin"]),
        ]
        constraints = [
            # A redelivered publication, a second publish or a crash halfway through never
            # re-evaluates the same entry, nor adds the same pinned baseline, twice on a version.
            models.UniqueConstraint(
                fields=["version", "reevaluation_of"],
                condition=models.Q(reevaluation_of__isnull=False),
                name="unique_reevaluation_per_version",
            ),
            models.UniqueConstraint(
                fields=["version", "baseline_pin"],
                condition=models.Q(baseline_pin__isnull=False),
                name="unique_pinned_baseline_per_version",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.model_name}"

    def get_absolute_url(self) -> str:
        return reverse("front:submission", args=[self.pk])

    def is_visible_to(self, user) -> bool:
        return self.status == self.Status.SCORED or is_teammate(user, self)

    def claim(self) -> bool:
        """Move queued → running with a conditional UPDATE; only one worker can win.

        Kept for callers that only need the status; a worker takes a row with
        ``touchstone.submissions.runs.start_run``, which also opens the fenced run.
        """
        claimed = Submission.objects.filter(pk=self.pk, status=self.Status.QUEUED).update(
            status=self.Status.RUNNING,
            progress=0.0,
            progress_message="starting",
            heartbeat_at=Now(),
            updated_at=timezone.now(),
        )
        if claimed:
            self.refresh_from_db()
        return bool(claimed)

    def report_progress(self, fraction: float, message: str) -> None:
        # Only a running row takes progress: a withdrawal mid-run must not be overwritten.
        Submission.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(
            progress=max(0.0, min(1.0, fraction)), progress_message=message[:200], updated_at=timezone.now()
        )

    def delete(self, *args, **kwargs):
        raise PermissionError("submissions form an append-only ledger: withdraw them instead of deleting")

    def withdraw(self) -> None:
        """Hide from leaderboards; the row and its scores stay in the ledger."""
        self.status = self.Status.WITHDRAWN
        self.withdrawn_at = timezone.now()
        self.save(update_fields=["status", "withdrawn_at", "updated_at"])

    def scored_run(self) -> EvaluationRun | None:
        """The latest run that scored this submission, the one its stored outcomes come from."""
        return self.runs.filter(outcome="scored").exclude(outcomes_path="").order_by("-attempt").first()

    @property
    def is_background(self) -> bool:
        """Re-evaluations and pinned baselines: they run only when no upload waits."""
        return self.origin != self.Origin.UPLOAD

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SCORED, self.Status.FAILED, self.Status.WITHDRAWN}


class EvaluationRun(models.Model):
    """One attempt by one worker to score a submission; kept even when it fails.

    ``provenance`` is the public record (shown through ``public_provenance``); ``worker`` and
    ``private_record`` are for maintainers only: a model influences its own timings and memory,
    so the exact figures could carry what it saw, and host details help nobody reproduce a score.
    """

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="runs")
    attempt = models.PositiveIntegerField()
    worker = models.CharField(max_length=200, help_text="Host name of the worker; private.")
    process = models.CharField(
        max_length=200,
        blank=True,
        help_text="Boot id, pid namespace, pid and start time of the process that ran it, so a watchdog "
        "on its machine knows at once when it is gone; private.",
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    provenance = models.JSONField(default=dict, help_text="What reproduction needs and the coarse cost; public.")
    private_record = models.JSONField(
        default=dict,
        blank=True,
        help_text="Exact and per-batch timings, peak memory, host details, plain predictions hash; private.",
    )
    outcomes_path = models.CharField(max_length=300, blank=True, help_text="Per-item outcomes, private.")

    class Meta:
        ordering = ["submission", "attempt"]
        constraints = [models.UniqueConstraint(fields=["submission", "attempt"], name="unique_run_attempt")]

    def __str__(self) -> str:
        return f"run {self.attempt} of {self.submission}"

    def public_provenance(self) -> dict:
        """The part of the provenance record anyone may see."""
        return public_provenance(self.provenance)

    def cost_summary(self) -> str:
        """The run's public cost in one sentence."""
        return cost_summary(self.public_provenance())


class MetricResult(models.Model):
    """A metric of a submission on one part of the hidden split and one condition, with its
    bootstrap interval. Final-part results stay private until the version is frozen."""

    class Part(models.TextChoices):
        FEEDBACK = "feedback"
        FINAL = "final"

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="metric_results")
    part = models.CharField(max_length=10, choices=Part.choices)
    condition = models.CharField(max_length=60, default="clean")
    metric = models.CharField(max_length=40)
    value = models.FloatField()
    ci_low = models.FloatField()
    ci_high = models.FloatField()

    class Meta:
        ordering = ["part", "condition", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "part", "condition", "metric"], name="unique_metric_result")
        ]

    def __str__(self) -> str:
        return f"{self.part} {self.metric}={self.value:.4f} [{self.ci_low:.4f}, {self.ci_high:.4f}]"


class BaselineCheck(models.Model):
    """A pinned baseline scored again by a newer evaluator and compared with its recorded run.

    The recorded scores stay as they are (the ledger is append-only and each score reproduces
    under the evaluator that computed it); the check records what the new evaluator gives on
    the same items, and is flagged to the maintainers when the paired difference's interval
    excludes zero.
    """

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="baseline_checks")
    evaluator_version = models.CharField(max_length=40, help_text="The evaluator that ran the check.")
    recorded_evaluator_version = models.CharField(max_length=40, help_text="The evaluator of the recorded run.")
    metric = models.CharField(max_length=40)
    recorded_value = models.FloatField(null=True, blank=True)
    new_value = models.FloatField(null=True, blank=True)
    difference = models.JSONField(
        null=True, blank=True, help_text="new minus recorded on the same items, {value, ci_low, ci_high}"
    )
    flagged = models.BooleanField(default=False)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "evaluator_version"], name="unique_baseline_check")
        ]

    def __str__(self) -> str:
        verdict = "flagged" if self.flagged else "unchanged"
        return f"check of {self.submission} under evaluator {self.evaluator_version}: {verdict}"
