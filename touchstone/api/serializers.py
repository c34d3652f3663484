"""Serializers: validation of uploads, the public shape of benchmarks, versions and submissions,
and the one error shape. Boards and comparisons are in ``board_serializers``, provenance records
in ``provenance_serializers``, breakdowns in ``breakdown_serializers``."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from touchstone.api.breakdown_serializers import BreakdownsSerializer
from touchstone.benchmarks.models import Benchmark, BenchmarkVersion
from touchstone.rankings import disclosure
from touchstone.rankings.finals import final_choice
from touchstone.submissions.models import Submission
from touchstone.submissions.queueing import queue_note, queue_place


class VersionSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = BenchmarkVersion
        fields = ["version", "status", "content_hash", "published_at", "n_test_items"]


def absolute_url(context: dict, path: str) -> str:
    """``path`` made absolute for the request being answered (left relative without one)."""
    request = context.get("request")
    return request.build_absolute_uri(path) if request else path


class VersionSerializer(serializers.ModelSerializer):
    benchmark = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    classes = serializers.ListField(child=serializers.CharField(), read_only=True)
    primary_metric = serializers.CharField(read_only=True)
    report_metrics = serializers.ListField(child=serializers.CharField(), read_only=True)
    validation_fraction = serializers.FloatField(
        read_only=True, help_text="share of the dev split held out as its validation part ([dev] validation_fraction)"
    )
    dev_split_url = serializers.SerializerMethodField()
    leaderboard_url = serializers.SerializerMethodField()

    class Meta:
        model = BenchmarkVersion
        fields = [
            "benchmark",
            "version",
            "title",
            "description",
            "status",
            "content_hash",
            "file_hashes",
            "changelog",
            "published_at",
            "frozen_at",
            "deprecated_at",
            "n_dev_items",
            "n_test_items",
            "validation_fraction",
            "classes",
            "primary_metric",
            "report_metrics",
            "spec",
            "dev_split_url",
            "leaderboard_url",
        ]

    def _url(self, name: str, version: BenchmarkVersion) -> str:
        return absolute_url(self.context, reverse(name, args=[version.benchmark.slug, version.version]))

    def get_dev_split_url(self, version: BenchmarkVersion) -> str:
        return self._url("api:dev-split", version)

    def get_leaderboard_url(self, version: BenchmarkVersion) -> str:
        return self._url("api:leaderboard", version)


class BenchmarkSerializer(serializers.ModelSerializer):
    latest_version = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()

    class Meta:
        model = Benchmark
        fields = ["slug", "title", "description", "latest_version", "versions"]

    def get_latest_version(self, benchmark: Benchmark) -> str | None:
        latest = benchmark.latest_version
        return latest.version if latest else None

    def get_versions(self, benchmark: Benchmark) -> list[dict]:
        return VersionSummarySerializer(benchmark.versions.visible().order_by("-published_at"), many=True).data


class SubmissionCreateSerializer(serializers.Serializer):
    benchmark = serializers.SlugField()
    version = serializers.CharField(max_length=40)
    model_file = serializers.FileField(allow_empty_file=False)
    model_name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    paper_url = serializers.URLField(required=False, allow_blank=True, default="")
    code_url = serializers.URLField(required=False, allow_blank=True, default="")

    def validate(self, data: dict) -> dict:
        version = (
            BenchmarkVersion.objects.visible()
            .filter(benchmark__slug=data["benchmark"], version=data["version"])
            .select_related("benchmark")
            .first()
        )
        if version is None:
            raise serializers.ValidationError(
                {"version": f"no published version {data['version']!r} of benchmark {data['benchmark']!r}"}
            )
        data["version_object"] = version
        return data


class ReevaluationSerializer(serializers.Serializer):
    """The entry of a superseded version that a re-evaluation scores again on the new one."""

    of = serializers.IntegerField(help_text="The re-evaluated submission's id (on the superseded version).")
    benchmark = serializers.CharField()
    from_version = serializers.CharField(help_text="The superseded version the entry came from.")
    url = serializers.CharField()


class SubmissionSerializer(serializers.ModelSerializer):
    benchmark = serializers.CharField(source="version.benchmark.slug")
    version = serializers.CharField(source="version.version")
    error = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()
    scores_part = serializers.SerializerMethodField()
    ladder = serializers.SerializerMethodField()
    ranking = serializers.SerializerMethodField()
    final = serializers.SerializerMethodField()
    breakdowns = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    progress_message = serializers.SerializerMethodField()
    reevaluation = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()
    queued_ahead = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id",
            "benchmark",
            "version",
            "model_name",
            "team",
            "description",
            "paper_url",
            "code_url",
            "is_baseline",
            "origin",
            "reevaluation",
            "model_format",
            "sha256",
            "size_bytes",
            "status",
            "progress",
            "progress_message",
            "queue_position",
            "queued_ahead",
            "error",
            "metrics",
            "scores_part",
            "ladder",
            "ranking",
            "final",
            "breakdowns",
            "created_at",
            "scored_at",
            "withdrawn_at",
            "url",
        ]

    @extend_schema_field(
        serializers.CharField(
            help_text="What the evaluation is doing now; for a queued re-evaluation or pinned baseline, what it "
            'waits for (for example "re-evaluation of #12 from digits 1.0.0, queued behind 2 uploads").'
        )
    )
    def get_progress_message(self, submission: Submission) -> str:
        return queue_note(submission) or submission.progress_message

    @extend_schema_field(
        serializers.IntegerField(
            allow_null=True,
            help_text="While queued: the submission's place in the queue (1 is next to run); null once it runs.",
        )
    )
    def get_queue_position(self, submission: Submission) -> int | None:
        place = self._queue_place(submission)
        return None if place is None else place[0]

    def _queue_place(self, submission: Submission) -> tuple[int, int] | None:
        # Two fields read it: counted once per submission.
        places = self.__dict__.setdefault("_queue_places", {})
        if submission.pk not in places:
            places[submission.pk] = queue_place(submission)
        return places[submission.pk]

    @extend_schema_field(
        serializers.IntegerField(
            allow_null=True, help_text="While queued: how many queued submissions run before it; null once it runs."
        )
    )
    def get_queued_ahead(self, submission: Submission) -> int | None:
        place = self._queue_place(submission)
        return None if place is None else place[1]

    @extend_schema_field(ReevaluationSerializer(allow_null=True))
    def get_reevaluation(self, submission: Submission) -> dict | None:
        origin = submission.reevaluation_of
        if origin is None:
            return None
        return {
            "of": origin.pk,
            "benchmark": origin.version.benchmark.slug,
            "from_version": origin.version.version,
            "url": absolute_url(self.context, origin.get_absolute_url()),
        }

    def get_error(self, submission: Submission) -> dict | None:
        if not submission.error_code:
            return None
        return {"code": submission.error_code, "message": submission.error_message}

    def _scores(self, submission: Submission) -> dict:
        # Computed once per serialisation; three fields read it.
        cache = self.context.setdefault("_scores", {})
        if submission.pk not in cache:
            cache[submission.pk] = disclosure.submission_scores(submission)
        return cache[submission.pk]

    def get_metrics(self, submission: Submission) -> dict:
        """Metric → value, ci_low, ci_high: final-part scores once frozen; while open, a released
        submission's value and interval, and nothing for a submission the Ladder did not release."""
        return self._scores(submission)["metrics"]

    def get_scores_part(self, submission: Submission) -> str | None:
        return self._scores(submission)["part"]

    def get_ladder(self, submission: Submission) -> dict | None:
        return self._scores(submission)["ladder"]

    def get_ranking(self, submission: Submission) -> dict | None:
        return disclosure.submission_ranking(submission)

    @extend_schema_field(
        serializers.ChoiceField(
            choices=["marked", "default"],
            allow_null=True,
            help_text=(
                "Whether the frozen board chooses the team's entry from this submission: marked by the team, "
                "or its latest released one because the team marked none; null otherwise. Shown to the owner "
                "while the version is open and to everyone once it is frozen."
            ),
        )
    )
    def get_final(self, submission: Submission) -> str | None:
        request = self.context.get("request")
        return final_choice(submission, request.user) if request is not None else None

    @extend_schema_field(
        BreakdownsSerializer(
            allow_null=True,
            help_text=(
                "Per-class recall and confusion matrix, per-slice and per-era accuracy with intervals, and the "
                "reliability bins, on the part the scores are shown on: the final part once the version is frozen; "
                "while it is open, the feedback part for a submission the Ladder released, and null for any other."
            ),
        )
    )
    def get_breakdowns(self, submission: Submission) -> dict | None:
        found = disclosure.submission_breakdowns(submission)
        return None if found is None else BreakdownsSerializer(found).data

    def get_url(self, submission: Submission) -> str:
        return absolute_url(self.context, submission.get_absolute_url())


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API (see ``touchstone.api.errors``)."""

    detail = serializers.CharField(help_text="What was wrong and what to do, for a person.")
    field = serializers.CharField(allow_null=True, help_text="The request field at fault, or null.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors only: every field at fault with all of its messages.",
    )
