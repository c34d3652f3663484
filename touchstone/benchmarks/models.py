"""Benchmarks and their immutable, versioned definitions."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from evaluation.spec import DEFAULT_VALIDATION_FRACTION
from touchstone.benchmarks.signals import version_published
from touchstone.storage import fetch_folder


class Benchmark(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Only a benchmark's maintainers (and staff) publish, freeze or deprecate its versions.
    maintainers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="maintained_benchmarks")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("front:benchmark", args=[self.slug])

    def is_maintained_by(self, user) -> bool:
        """Whether ``user`` may publish, freeze or deprecate this benchmark's versions.

        Staff maintain every benchmark; anyone else only the benchmarks that list them.
        """
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        return bool(user.is_staff) or self.maintainers.filter(pk=user.pk).exists()

    @property
    def latest_version(self) -> BenchmarkVersion | None:
        return self.versions.visible().order_by("-published_at", "-id").first()


class VersionQuerySet(models.QuerySet):
    def visible(self) -> VersionQuerySet:
        """Versions a visitor may see: published, frozen or deprecated, never drafts."""
        return self.exclude(status=BenchmarkVersion.Status.DRAFT)

    def mark_leaderboard_stale(self) -> int:
        """Count one change to what these versions' leaderboards are computed from.

        Call it inside the transaction that makes the change (a result scored or withdrawn, a
        freeze), so the count moves exactly when the change becomes visible; whoever commits
        it then queues a recompute (``touchstone.tasks``). Returns the number of versions.
        """
        return self.update(generation=F("generation") + 1)


class ImmutableVersionError(Exception):
    pass


class BenchmarkVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"
        FROZEN = "frozen"
        DEPRECATED = "deprecated"

    benchmark = models.ForeignKey(Benchmark, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    spec = models.JSONField()
    content_hash = models.CharField(max_length=64, unique=True)
    file_hashes = models.JSONField(default=dict)
    changelog = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    storage_path = models.CharField(max_length=300)
    n_dev_items = models.PositiveIntegerField()
    n_test_items = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    deprecated_at = models.DateTimeField(null=True, blank=True)
    # Who created the draft (None for the site operator's command line), and the review it was
    # created with: the diff, part sizes, exposed items and what was done with them.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review = models.JSONField(default=dict, blank=True)
    # Counts the changes to what the version's leaderboard is computed from (a result scored or
    # withdrawn, a freeze). The stored leaderboard records the count it was computed at, so a
    # recompute that finds it current does nothing and a stale one cannot replace a newer board.
    generation = models.PositiveBigIntegerField(default=0, editable=False)

    objects = VersionQuerySet.as_manager()

    # Fields that define what a score means; they can never change once published.
    FROZEN_FIELDS = ("spec", "content_hash", "file_hashes", "storage_path", "version", "benchmark_id")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["benchmark", "version"], name="unique_benchmark_version")]
        ordering = ["benchmark__slug", "-published_at"]

    def __str__(self) -> str:
        return f"{self.benchmark.slug} {self.version}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            stored = BenchmarkVersion.objects.filter(pk=self.pk).values(*self.FROZEN_FIELDS, "status").first()
            if stored and stored["status"] != self.Status.DRAFT:
                changed = [f for f in self.FROZEN_FIELDS if stored[f] != getattr(self, f)]
                if changed:
                    raise ImmutableVersionError(
                        f"{self} is published and immutable; publish a new version instead "
                        f"(tried to change {', '.join(changed)})"
                    )
            if kwargs.get("update_fields") is None and not self._state.adding:
                # The generation only moves by UPDATE ... SET generation = generation + 1; saving
                # every field of an instance read earlier (the admin's form does) would write back
                # an older count, and the next recompute would take a stale board for current.
                kwargs["update_fields"] = [
                    f.name for f in self._meta.concrete_fields if not f.primary_key and f.name != "generation"
                ]
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("front:version", args=[self.benchmark.slug, self.version])

    def publish(self) -> None:
        if self.status != self.Status.DRAFT:
            raise ImmutableVersionError(f"{self} is already {self.status}")
        previous = self.benchmark.latest_version
        self.status = self.Status.PUBLISHED
        self.published_at = timezone.now()
        self.save(update_fields=["status", "published_at"])
        transaction.on_commit(lambda: version_published.send(sender=BenchmarkVersion, version=self, previous=previous))

    def freeze(self) -> None:
        """Close the version to submissions and reveal final-part scores and final ranks."""
        if self.status != self.Status.PUBLISHED:
            raise ImmutableVersionError(f"only a published version can be frozen; {self} is {self.status}")
        self.status = self.Status.FROZEN
        self.frozen_at = timezone.now()
        self.save(update_fields=["status", "frozen_at"])

    def deprecate(self) -> None:
        """Mark a frozen version deprecated: still readable, marked as such, never open again.

        Only a frozen version is deprecated here; ``touchstone.rankings.lifecycle.deprecate``
        freezes an open one first, so its final board is computed like any other freeze.
        """
        if self.status != self.Status.FROZEN:
            raise ImmutableVersionError(f"only a frozen version can be deprecated here; {self} is {self.status}")
        self.status = self.Status.DEPRECATED
        self.deprecated_at = timezone.now()
        self.save(update_fields=["status", "deprecated_at"])

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def is_deprecated(self) -> bool:
        return self.status == self.Status.DEPRECATED

    @property
    def reveals_final_scores(self) -> bool:
        """Frozen and deprecated versions show final-part scores; open ones only the Ladder's."""
        return self.status in {self.Status.FROZEN, self.Status.DEPRECATED}

    @property
    def feedback_fraction(self) -> float:
        return float(self.spec.get("hidden", {}).get("feedback_fraction", 0.3))

    @property
    def validation_fraction(self) -> float:
        """Share of the public dev split held out as its validation part (``[dev] validation_fraction``)."""
        return float(self.spec.get("dev", {}).get("validation_fraction", DEFAULT_VALIDATION_FRACTION))

    @property
    def public_source(self) -> bool:
        """Whether the spec says the hidden split can be derived from public data."""
        return self.spec.get("hidden", {}).get("public_source") is True

    @property
    def is_open(self) -> bool:
        """Open versions accept submissions."""
        return self.status == self.Status.PUBLISHED

    @property
    def folder(self) -> Path:
        """The version's stored folder on this machine (with a bucket, a cached copy fetched once)."""
        return fetch_folder(self.storage_path, self.file_hashes)

    @property
    def classes(self) -> list[str]:
        return list(self.spec["classes"])

    @property
    def primary_metric(self) -> str:
        return self.spec["metrics"]["primary"]

    @property
    def report_metrics(self) -> list[str]:
        return list(self.spec["metrics"]["report"])
