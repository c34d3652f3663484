from __future__ import annotations

from django.contrib import admin

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.models import LadderRelease, LeaderboardEntry, LeaderboardSnapshot
from touchstone.rankings.services import freeze_version


@admin.register(LeaderboardSnapshot)
class LeaderboardSnapshotAdmin(admin.ModelAdmin):
    list_display = ("version", "part", "n_entries", "n_items", "minimum_detectable_effect", "computed_at")
    readonly_fields = [field.name for field in LeaderboardSnapshot._meta.fields]


@admin.register(LeaderboardEntry)
class LeaderboardEntryAdmin(admin.ModelAdmin):
    list_display = ("version", "rank", "rank_lower", "rank_upper", "tier", "submission")
    list_filter = ("version",)
    readonly_fields = [field.name for field in LeaderboardEntry._meta.fields]


@admin.action(description="Freeze: close to submissions and reveal final scores")
def freeze(modeladmin, request, queryset) -> None:
    for version in queryset.filter(status=BenchmarkVersion.Status.PUBLISHED):
        freeze_version(version=version)
        modeladmin.message_user(request, f"{version} is frozen; its final leaderboard is published.")


@admin.register(BenchmarkVersion)
class BenchmarkVersionAdmin(admin.ModelAdmin):
    actions = [freeze]
    list_display = ("benchmark", "version", "status", "n_test_items", "published_at", "content_hash")
    list_filter = ("status", "benchmark")
    readonly_fields = (
        "benchmark",
        "version",
        "spec",
        "content_hash",
        "file_hashes",
        "storage_path",
        "n_dev_items",
        "n_test_items",
        "published_at",
        "frozen_at",
        "created_at",
    )


@admin.register(LadderRelease)
class LadderReleaseAdmin(admin.ModelAdmin):
    """The log is append-only: maintainers read it here and change nothing."""

    list_display = ("version", "sequence", "group", "submission", "released", "improved", "created_at")
    list_filter = ("version", "improved")
    readonly_fields = [field.name for field in LadderRelease._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
