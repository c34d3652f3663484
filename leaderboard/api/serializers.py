"""Serializers: validation of uploads and the public shape of every resource."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from leaderboard.benchmarks.models import Benchmark, BenchmarkVersion
from leaderboard.rankings.queries import public_scores
from leaderboard.submissions.models import Submission


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
    dev_split_url = serializers.SerializerMethodField()
    leaderboard_url = serializers.SerializerMethodField()

    class Meta:
        model = BenchmarkVersion
        fields = [
            "benchmark", "version", "title", "description", "status", "content_hash", "file_hashes", "changelog",
            "published_at", "n_dev_items", "n_test_items", "classes", "primary_metric", "report_metrics", "spec",
            "dev_split_url", "leaderboard_url",
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


class SubmissionSerializer(serializers.ModelSerializer):
    benchmark = serializers.CharField(source="version.benchmark.slug")
    version = serializers.CharField(source="version.version")
    error = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()
    scores_part = serializers.SerializerMethodField()
    ladder = serializers.SerializerMethodField()
    ranking = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id", "benchmark", "version", "model_name", "team", "description", "paper_url", "code_url",
            "is_baseline", "model_format", "sha256", "size_bytes", "status", "progress", "progress_message",
            "error", "metrics", "scores_part", "ladder", "ranking", "created_at", "scored_at", "withdrawn_at", "url",
        ]

    def get_error(self, submission: Submission) -> dict | None:
        if not submission.error_code:
            return None
        return {"code": submission.error_code, "message": submission.error_message}

    def _scores(self, submission: Submission) -> dict:
        # Computed once per serialisation; three fields read it.
        cache = self.context.setdefault("_scores", {})
        if submission.pk not in cache:
            cache[submission.pk] = public_scores(submission)
        return cache[submission.pk]

    def get_metrics(self, submission: Submission) -> dict:
        """Metric → value, ci_low, ci_high: final-part scores once frozen, the Ladder's while open."""
        return self._scores(submission)["metrics"]

    def get_scores_part(self, submission: Submission) -> str | None:
        return self._scores(submission)["part"]

    def get_ladder(self, submission: Submission) -> dict | None:
        return self._scores(submission)["ladder"]

    def get_ranking(self, submission: Submission) -> dict | None:
        entry = getattr(submission, "entry", None)
        if entry is None or submission.status != Submission.Status.SCORED:
            return None
        return {
            "rank": entry.rank, "rank_lower": entry.rank_lower, "rank_upper": entry.rank_upper, "tier": entry.tier,
            "p_value_vs_leader": entry.p_value_vs_leader,
        }

    def get_url(self, submission: Submission) -> str:
        return absolute_url(self.context, submission.get_absolute_url())
