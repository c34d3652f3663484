from __future__ import annotations

from django.contrib import admin
from django.db import models

from touchstone.submissions.models import (
    BaselineCheck,
    BaselinePin,
    EvaluationRun,
    MetricResult,
    Submission,
    Team,
    TeamMembership,
)

# Only what the owner describes may be corrected in the admin; the status, owner, team, version
# and everything the evaluation and the Ladder recorded change only through their own paths.
EDITABLE = ("model_name", "description", "paper_url", "code_url")


class RunInline(admin.TabularInline):
    model = EvaluationRun
    fields = ("attempt", "worker", "started_at", "finished_at", "outcome", "error_code")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class MetricInline(admin.TabularInline):
    model = MetricResult
    fields = ("part", "condition", "metric", "value", "ci_low", "ci_high")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("id", "model_name", "team", "version", "status", "is_baseline", "created_at")
    list_filter = ("status", "is_baseline", "version__benchmark")
    search_fields = ("model_name", "team", "sha256")
    readonly_fields = [field.name for field in Submission._meta.fields if field.name not in EDITABLE]
    inlines = [MetricInline, RunInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request) -> bool:
        # Submissions come from uploads, which check the version, the quota and the file.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # The ledger is append-only: withdraw a submission instead.
        return False


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    """Maintainers see everything a run recorded, the private record included."""

    list_display = ("submission", "attempt", "worker", "outcome", "started_at", "finished_at")
    list_filter = ("outcome",)
    fields = (
        "submission",
        "attempt",
        "worker",
        "process",
        "started_at",
        "finished_at",
        "outcome",
        "error_code",
        "outcomes_path",
        "provenance",
        "private_record",
    )
    # Runs are records of what happened: nobody edits them after the fact.
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the site writes itself: shown to staff, changed by nobody."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BaselinePin)
class BaselinePinAdmin(ReadOnlyAdmin):
    list_display = ("benchmark", "name", "sha256", "created_at")
    list_filter = ("benchmark",)


@admin.register(BaselineCheck)
class BaselineCheckAdmin(ReadOnlyAdmin):
    """Baselines scored again under a new evaluator; the flagged ones changed beyond their interval."""

    list_display = ("submission", "recorded_evaluator_version", "evaluator_version", "flagged", "detail", "created_at")
    list_filter = ("flagged", "evaluator_version")


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    fields = ("user", "joined_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """Read-only: who is in which team changes only through the rules of ``teams``."""

    list_display = ("name", "benchmark", "created_by", "created")
    list_filter = ("benchmark",)
    search_fields = ("name", "memberships__user__username")
    readonly_fields = ("benchmark", "name", "slug", "created_by", "created")
    inlines = [MembershipInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
