from __future__ import annotations

from django.contrib import admin

from touchstone.benchmarks.models import Benchmark, BenchmarkVersion


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
    # Maintainers publish, freeze and deprecate the benchmark's versions (touchstone.benchmarks.permissions).
    filter_horizontal = ("maintainers",)
    inlines = [VersionInline]


# Versions are administered in touchstone/rankings/admin.py: freezing publishes the final
# leaderboard, so the life-cycle actions live there.
