"""``GET /api/v1/quota/``: the caller's quota left today on a version, and the size limit."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from touchstone.api.serializers import ErrorSerializer
from touchstone.benchmarks.models import Benchmark, BenchmarkVersion
from touchstone.submissions.standing import standing


class QuotaSerializer(serializers.Serializer):
    benchmark = serializers.CharField()
    version = serializers.CharField()
    used = serializers.IntegerField(help_text="Submissions of the last 24 hours that count against the quota.")
    limit = serializers.IntegerField(help_text="Submissions allowed per version in any 24 hours.")
    left = serializers.IntegerField(help_text="Submissions left now.")
    window_hours = serializers.IntegerField()
    next_slot_at = serializers.DateTimeField(
        allow_null=True, help_text="When the next submission is possible, if none is left now."
    )
    max_upload_bytes = serializers.IntegerField(help_text="The largest model file accepted, in bytes.")
    max_upload = serializers.CharField(help_text='The same limit for people, in MiB (2^20 bytes): "100 MiB".')
    summary = serializers.CharField(help_text="The standing in one sentence, as the upload page shows it.")


BENCHMARK = OpenApiParameter("benchmark", str, required=True, description="Benchmark slug, e.g. digits.")
VERSION = OpenApiParameter(
    "version", str, required=False, description="Version, e.g. 1.0.0; the latest published by default."
)


def _version(request: Request) -> BenchmarkVersion:
    slug = request.query_params.get("benchmark", "")
    if not slug:
        raise ValidationError({"benchmark": ["give the benchmark's slug: ?benchmark=digits"]})
    number = request.query_params.get("version")
    if number:
        return get_object_or_404(
            BenchmarkVersion.objects.visible().select_related("benchmark"), benchmark__slug=slug, version=number
        )
    latest = get_object_or_404(Benchmark, slug=slug).latest_version
    if latest is None:
        raise NotFound(f"{slug} has no published version yet")
    return latest


class Quota(APIView):
    """The signed-in researcher's quota on a version: the same figures the upload page shows."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        parameters=[BENCHMARK, VERSION], responses={200: QuotaSerializer, 401: ErrorSerializer, 404: ErrorSerializer}
    )
    def get(self, request: Request) -> Response:
        version = _version(request)
        found = standing(owner=request.user, version=version)
        payload = {
            "benchmark": version.benchmark.slug,
            "version": version.version,
            **found.as_dict(),
            "summary": found.sentence(),
        }
        return Response(QuotaSerializer(payload).data)
