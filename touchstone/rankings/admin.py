from __future__ import annotations

from django.contrib import admin, messages

from touchstone.benchmarks import permissions
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings import lifecycle
from touchstone.rankings.models import LadderRelease, LeaderboardEntry, LeaderboardSnapshot
from touchstone.submissions.admin import ReadOnlyAdmin


@admin.register(LeaderboardSnapshot)
class LeaderboardSnapshotAdmin(admin.ModelAdmin):
    list_display = ("version", "part", "n_entries", "n_items", "minimum_detectable_effect", "computed_at")
    readonly_fields = [field.name for field in LeaderboardSnapshot._meta.fields]


@admin.register(LeaderboardEntry)
class LeaderboardEntryAdmin(admin.ModelAdmin):
    list_display = ("version", "rank", "rank_lower", "rank_upper", "tier", "submission")
    list_filter = ("version",)
    readonly_fields = [field.name for field in LeaderboardEntry._meta.fields]


def _each_maintained(modeladmin, request, queryset, action: str):
    """The selected versions the user may take ``action`` on; the others are named and skipped."""
    for version in queryset.select_related("benchmark"):
        if permissions.may(request.user, action, version.benchmark):
            yield version
        else:
            modeladmin.message_user(
                request, f"{version} was left alone: you do not maintain {version.benchmark.slug}.", messages.ERROR
            )


@admin.action(description="Freeze: close to submissions and reveal final scores")
def freeze(modeladmin, request, queryset) -> None:
    for version in _each_maintained(
        modeladmin, request, queryset.filter(status=BenchmarkVersion.Status.PUBLISHED), "freeze"
    ):
        lifecycle.freeze(version=version, user=request.user)
        modeladmin.message_user(request, f"{version} is frozen; its final leaderboard is published.")


@admin.action(description="Deprecate: keep readable, mark deprecated, take no submissions (open ones are frozen first)")
def deprecate(modeladmin, request, queryset) -> None:
    open_or_frozen = queryset.filter(status__in=[BenchmarkVersion.Status.PUBLISHED, BenchmarkVersion.Status.FROZEN])
    for version in _each_maintained(modeladmin, request, open_or_frozen, "deprecate"):
        lifecycle.deprecate(version=version, user=request.user)
        modeladmin.message_user(request, f"{version} is deprecated.")


@admin.register(BenchmarkVersion)
class BenchmarkVersionAdmin(admin.ModelAdmin):
    """Versions are read here; their status changes only through the life-cycle actions.

    Drafts are created, reviewed, published and discarded on the site (the benchmark's "new
    draft" and review pages) or with ``publish_benchmark``; freezing and deprecating are the
    actions below, which check maintainership like the site's buttons.
    """

    actions = [freeze, deprecate]
    list_display = ("benchmark", "version", "status", "n_test_items", "published_at", "content_hash")
    list_filter = ("status", "benchmark")
    readonly_fields = [field.name for field in BenchmarkVersion._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LadderRelease)
class LadderReleaseAdmin(ReadOnlyAdmin):
    """The log is append-only: maintainers read it here and change nothing."""

    list_display = ("version", "sequence", "group", "submission", "released", "improved", "created_at")
    list_filter = ("version", "improved")
    readonly_fields = [field.name for field in LadderRelease._meta.fields]
