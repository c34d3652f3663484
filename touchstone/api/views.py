"""The public REST API (``/api/v1/``): plain APIViews with hand-written URLs.

Benchmarks, their versions and leaderboards are here; submissions are in ``submission_views``,
teams in ``team_views``, the status page in ``status_views``.
"""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from touchstone.api.board_serializers import ComparisonSerializer, LeaderboardSerializer
from touchstone.api.exports import BoardCSVRenderer, board_export, export_format, export_name
from touchstone.api.renderers import LeaderboardCSVRenderer
from touchstone.api.serializers import BenchmarkSerializer, ErrorSerializer, VersionSerializer
from touchstone.api.version_serializers import ProgressSerializer, VersionChangesSerializer, VersionDiffSerializer
from touchstone.benchmarks.croissant import croissant
from touchstone.benchmarks.models import Benchmark, BenchmarkVersion
from touchstone.benchmarks.public_diff import public_diff
from touchstone.converters import MAX_ID, valid_id
from touchstone.rankings import disclosure
from touchstone.rankings.board_cache import board_fingerprint, cached_leaderboard, derived, recent_fingerprint
from touchstone.rankings.changes import version_changes
from touchstone.rankings.comparisons import ComparisonUnavailable, compare_submissions, stored_comparison
from touchstone.rankings.progress import benchmark_progress
from touchstone.throttles import comparison_wait


def _version(slug: str, version: str) -> BenchmarkVersion:
    return get_object_or_404(
        BenchmarkVersion.objects.visible().select_related("benchmark"), benchmark__slug=slug, version=version
    )


class BenchmarkList(APIView):
    @extend_schema(responses=BenchmarkSerializer(many=True))
    def get(self, request: Request) -> Response:
        benchmarks = Benchmark.objects.filter(versions__status__in=["published", "frozen", "deprecated"]).distinct()
        return Response(BenchmarkSerializer(benchmarks, many=True).data)


class BenchmarkDetail(APIView):
    @extend_schema(responses=BenchmarkSerializer)
    def get(self, request: Request, slug: str) -> Response:
        benchmark = get_object_or_404(Benchmark, slug=slug)
        return Response(BenchmarkSerializer(benchmark).data)


class BenchmarkProgress(APIView):
    """Each version's records of its disclosed primary-metric scores, by upload date."""

    @extend_schema(responses={200: ProgressSerializer, 404: ErrorSerializer})
    def get(self, request: Request, slug: str) -> Response:
        benchmark = get_object_or_404(Benchmark, slug=slug)
        if not benchmark.versions.visible().exists():
            raise NotFound(f"benchmark {slug!r} has no published version yet")
        return Response(ProgressSerializer(benchmark_progress(benchmark)).data)


class VersionDetail(APIView):
    @extend_schema(responses=VersionSerializer)
    def get(self, request: Request, slug: str, version: str) -> Response:
        return Response(VersionSerializer(_version(slug, version), context={"request": request}).data)


class DevSplit(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, slug: str, version: str) -> FileResponse:
        found = _version(slug, version)
        # Only the public dev split is ever served; the hidden test split has no route at all.
        return FileResponse(
            open(found.folder / "dev.npz", "rb"),
            as_attachment=True,
            filename=f"{slug}-{found.version}-dev.npz",
            content_type="application/octet-stream",
        )


class Spec(APIView):
    @extend_schema(responses={(200, "application/toml"): bytes})
    def get(self, request: Request, slug: str, version: str) -> FileResponse:
        found = _version(slug, version)
        # The spec is public: with dev.npz it makes a folder `python -m evaluation evaluate` accepts.
        return FileResponse(
            open(found.folder / "benchmark.toml", "rb"),
            as_attachment=True,
            filename="benchmark.toml",
            content_type="application/toml",
        )


class CroissantRenderer(JSONRenderer):
    media_type = "application/ld+json"
    format = "jsonld"


class Croissant(APIView):
    """MLCommons Croissant JSON-LD of the version's public dev split (files, fields, license, provenance)."""

    renderer_classes = [CroissantRenderer, JSONRenderer]

    @extend_schema(
        responses={(200, "application/ld+json"): dict, (200, "application/json"): dict, 404: ErrorSerializer}
    )
    def get(self, request: Request, slug: str, version: str) -> Response:
        found = _version(slug, version)
        return Response(croissant(found, request.build_absolute_uri))


class Compare(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("a", int, required=True), OpenApiParameter("b", int, required=True)],
        responses={200: ComparisonSerializer, 400: ErrorSerializer, 404: ErrorSerializer, 429: ErrorSerializer},
    )
    def get(self, request: Request, slug: str, version: str) -> Response:
        found = _version(slug, version)
        ids: list[int] = []
        for key in ("a", "b"):
            try:
                ids.append(int(request.query_params[key]))
            except (KeyError, ValueError):
                return Response({"detail": "give two submission ids as ?a=ID&b=ID", "field": key}, status=400)
            if not valid_id(ids[-1]):
                return Response(
                    {
                        "detail": f"{key}={ids[-1]} is not a submission id: ids are whole numbers from 1 to {MAX_ID}",
                        "field": key,
                    },
                    status=400,
                )
        a, b = ids
        try:
            first, second = disclosure.comparable_pair(found, a, b)
            comparison = stored_comparison(version=found, a=first, b=second)
        except disclosure.ComparisonRefused as refusal:
            return Response({"detail": refusal.message, "field": None}, status=refusal.status)
        except ComparisonUnavailable as error:
            return Response({"detail": str(error), "field": None}, status=400)
        if comparison is None:
            # A pair nobody compared yet runs a bootstrap in this process: at its own rate.
            wait = comparison_wait(request, self)
            if wait is not None:
                raise Throttled(wait=wait)
            comparison = compare_submissions(version=found, a=first, b=second)
        return Response(ComparisonSerializer(disclosure.shown_comparison(found, comparison)).data)


class Leaderboard(APIView):
    renderer_classes = [JSONRenderer, LeaderboardCSVRenderer]

    @extend_schema(responses={200: LeaderboardSerializer, 404: ErrorSerializer})
    def get(self, request: Request, slug: str, version: str) -> Response:
        found = _version(slug, version)
        # The serialized board is public too, and costs as much as building it: cached with it.
        # An anonymous reader may get it a few seconds old, as the pages serve it.
        fingerprint = board_fingerprint(found) if request.user.is_authenticated else recent_fingerprint(found)
        data = derived(
            fingerprint, "api", lambda: dict(LeaderboardSerializer(cached_leaderboard(found, fingerprint)[0]).data)
        )
        response = Response(data)
        if getattr(request, "accepted_renderer", None) and request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="{slug}-{found.version}-leaderboard.csv"'
        return response


class BoardExport(APIView):
    """The version's whole public board as a file: every metric and interval it shows."""

    renderer_classes = [JSONRenderer, BoardCSVRenderer]

    @extend_schema(responses={200: LeaderboardSerializer, 404: ErrorSerializer})
    def get(self, request: Request, slug: str, version: str) -> Response:
        found = _version(slug, version)
        board = board_export(found)
        response = Response(board)
        name = export_name("board", slug, found.version, board["part"], export_format(request))
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class VersionDiff(APIView):
    @extend_schema(responses={200: VersionDiffSerializer, 404: ErrorSerializer})
    def get(self, request: Request, slug: str, version: str) -> Response:
        """What this version changed from the one before it: spec, dev items one by one, hidden counts."""
        found = _version(slug, version)
        diff = public_diff(found)
        if diff is None:
            raise NotFound(f"{found} is the first version of {slug}: there is no earlier version to compare with")
        return Response(VersionDiffSerializer(diff).data)


class VersionChanges(APIView):
    @extend_schema(responses={200: VersionChangesSerializer, 404: ErrorSerializer})
    def get(self, request: Request, slug: str, version: str) -> Response:
        """How the order of the entries re-evaluated from the previous version changed on this one."""
        found = _version(slug, version)
        changes = version_changes(found)
        if changes is None:
            raise NotFound(f"{found} re-evaluated no entry of an earlier version, so there are no changes to show")
        return Response(VersionChangesSerializer(changes).data)
