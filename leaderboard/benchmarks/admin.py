from __future__ import annotations

from django.contrib import admin

from leaderboard.benchmarks.models import Benchmark, BenchmarkVersion


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


@admin.register(BenchmarkVersion)
class BenchmarkVersionAdmin(admin.ModelAdmin):
    list_display = ("benchmark", "version", "status", "n_test_items", "published_at", "content_hash")
    list_filter = ("status", "benchmark")
    readonly_fields = ("benchmark", "version", "spec", "content_hash", "file_hashes", "storage_path",
                       "n_dev_items", "n_test_items", "published_at", "created_at")
