from __future__ import annotations

from django.contrib import admin

from touchstone.rankings.models import LeaderboardEntry, LeaderboardSnapshot


@admin.register(LeaderboardSnapshot)
class LeaderboardSnapshotAdmin(admin.ModelAdmin):
    list_display = ("version", "part", "n_entries", "n_items", "minimum_detectable_effect", "computed_at")
    readonly_fields = [field.name for field in LeaderboardSnapshot._meta.fields]


@admin.register(LeaderboardEntry)
class LeaderboardEntryAdmin(admin.ModelAdmin):
    list_display = ("version", "rank", "rank_lower", "rank_upper", "tier", "submission")
    list_filter = ("version",)
    readonly_fields = [field.name for field in LeaderboardEntry._meta.fields]
