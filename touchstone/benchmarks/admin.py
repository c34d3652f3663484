from __future__ import annotations

from django.contrib import admin

from touchstone.benchmarks.models import Benchmark, BenchmarkVersion
from touchstone.rankings.services import freeze_version


class VersionInline(admin.TabularInline):
    model = BenchmarkVersion
    fields = ("version", "status", "content_hash", "published_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Benchmark)
class BenchmarkAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "created_at")
    search_fields = ("slug", "title")
    inlines = [VersionInline]


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
