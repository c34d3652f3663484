"""The API's submission endpoints: uploads and one's own list, a submission's scores, breakdowns,
report and provenance, and what its owner or team may change (withdraw, restore, final choice)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from touchstone.api.breakdown_serializers import BreakdownsSerializer
from touchstone.api.exports import ReportCSVRenderer, export_format, export_name, submission_report
from touchstone.api.provenance_serializers import PrivateProvenanceSerializer, ProvenanceSerializer
from touchstone.api.renderers import BreakdownsCSVRenderer
from touchstone.api.serializers import ErrorSerializer, SubmissionCreateSerializer, SubmissionSerializer
from touchstone.rankings import disclosure
from touchstone.submissions.models import Submission, is_teammate
from touchstone.submissions.services import mark_final, submit_model, unmark_final
from touchstone.submissions.standing import OWN_LIST_LIMIT, UnknownFilter, own_submissions
from touchstone.tasks import queue_evaluation, restore, withdraw
from touchstone.throttles import UPLOAD_THROTTLES


def visible_submission(request: Request, pk: int) -> Submission:
    """A submission the caller may read; others get 404 so ids do not leak what exists."""
    queryset = Submission.objects.select_related("version__benchmark", "owner").prefetch_related("metric_results")
    submission = get_object_or_404(queryset, pk=pk)
    if not submission.is_visible_to(request.user):
        raise Http404
    return submission


def _owners_change(request: Request, pk: int, verb: str, change) -> Response:
    """Apply ``change`` (withdraw or restore) to a submission of the caller's own; teammates see it but may not."""
    submission = visible_submission(request, pk)
    if submission.owner_id != request.user.pk:
        return Response(
            {"detail": f"only the researcher who submitted it can {verb} it", "field": None},
            status=status.HTTP_403_FORBIDDEN,
        )
    return Response(SubmissionSerializer(change(submission), context={"request": request}).data)


OWN_FILTERS = [
    OpenApiParameter("mine", bool, required=True, description="Must be 1: the list holds the caller's own."),
    OpenApiParameter("benchmark", str, required=False, description="Only this benchmark (its slug)."),
    OpenApiParameter("version", str, required=False, description="Only this version, e.g. 1.0.0."),
    OpenApiParameter("status", str, required=False, description="Only this status: queued, running, scored, ..."),
]


class SubmissionCreate(APIView):
    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = UPLOAD_THROTTLES
    parser_classes = [MultiPartParser, FormParser]

    def get_throttles(self) -> list:
        # Reading one's own list is an ordinary read: only uploads count against the upload rate.
        if self.request.method != "POST":
            return [throttle() for throttle in api_settings.DEFAULT_THROTTLE_CLASSES]
        return super().get_throttles()

    @extend_schema(
        parameters=OWN_FILTERS,
        responses={200: SubmissionSerializer(many=True), 400: ErrorSerializer, 401: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        """The caller's own submissions, newest first (``?mine=1``), withdrawn ones included."""
        if request.query_params.get("mine") not in {"1", "true", "yes"}:
            raise ValidationError(
                {"mine": ["only your own submissions are listed here: ask for ?mine=1; leaderboards list the rest"]}
            )
        chosen = {name: request.query_params.get(name, "").strip() for name in ("benchmark", "version", "status")}
        try:
            found = own_submissions(owner=request.user, **chosen)[:OWN_LIST_LIMIT]
        except UnknownFilter as unknown:
            raise ValidationError({"status": [str(unknown)]}) from None
        found = found.prefetch_related("metric_results")
        return Response(SubmissionSerializer(found, many=True, context={"request": request}).data)

    @extend_schema(request=SubmissionCreateSerializer, responses={201: SubmissionSerializer})
    def post(self, request: Request) -> Response:
        serializer = SubmissionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        submission = submit_model(
            owner=request.user,
            version=data["version_object"],
            uploaded_file=data["model_file"],
            model_name=data["model_name"],
            description=data["description"],
            paper_url=data["paper_url"],
            code_url=data["code_url"],
        )
        queue_evaluation(submission.pk)
        # The answer shows whether the message went out ("waiting for the queue" if the broker was down).
        submission.refresh_from_db()
        body = SubmissionSerializer(submission, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class SubmissionReport(APIView):
    """A submission's full report as a file: metrics, Ladder, rank, breakdown summary, public provenance."""

    renderer_classes = [JSONRenderer, ReportCSVRenderer]

    @extend_schema(responses={200: dict, 404: ErrorSerializer})
    def get(self, request: Request, pk: int) -> Response:
        submission = visible_submission(request, pk)
        report = submission_report(submission)
        response = Response(report)
        version = submission.version
        name = export_name(
            "submission", version.benchmark.slug, version.version, report["part"], export_format(request), pk
        )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class SubmissionDetail(APIView):
    @extend_schema(responses=SubmissionSerializer)
    def get(self, request: Request, pk: int) -> Response:
        submission = visible_submission(request, pk)
        return Response(SubmissionSerializer(submission, context={"request": request}).data)


class SubmissionBreakdowns(APIView):
    renderer_classes = [JSONRenderer, BreakdownsCSVRenderer]

    @extend_schema(responses={200: BreakdownsSerializer, 404: ErrorSerializer})
    def get(self, request: Request, pk: int) -> Response:
        submission = visible_submission(request, pk)
        found = disclosure.submission_breakdowns(submission)
        if found is None:
            raise NotFound(
                "no breakdowns are shown for this submission: it is not scored, or its version is open and the "
                "Ladder did not release it"
            )
        response = Response(BreakdownsSerializer(found).data)
        if getattr(request, "accepted_renderer", None) and request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="submission-{pk}-breakdowns.csv"'
        return response


DOWNLOAD = OpenApiParameter(
    "download", bool, required=False, description="Send the record as a file (Content-Disposition: attachment)."
)


def _wants_download(request: Request) -> bool:
    return request.query_params.get("download") in {"1", "true", "yes"}


def _as_download(response: Response, request: Request, filename: str) -> Response:
    """Mark ``response`` as a file to save when the caller asked for one with ``?download=1``."""
    if _wants_download(request):
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class SubmissionProvenance(APIView):
    @extend_schema(parameters=[DOWNLOAD], responses={200: ProvenanceSerializer, 404: ErrorSerializer})
    def get(self, request: Request, pk: int) -> Response:
        submission = visible_submission(request, pk)
        run = submission.scored_run()
        if run is None:
            return Response({"detail": f"submission {pk} has no scored run yet", "field": None}, status=404)
        payload = {"submission": submission.pk, "attempt": run.attempt, **run.public_provenance()}
        # Exact and per-batch figures could carry what the model saw, so only maintainers get
        # them; the submission's owner is exactly who must not. A downloaded file is the public
        # part alone, even for maintainers, so that a file passed on never carries the private
        # one (that has its own endpoint).
        if request.user.is_staff and not _wants_download(request):
            payload["private"] = {"worker": run.worker, **run.private_record}
        response = Response(ProvenanceSerializer(payload).data)
        return _as_download(response, request, f"submission-{submission.pk}-provenance.json")


class SubmissionPrivateProvenance(APIView):
    """The maintainers' part of a run's provenance: exact timings and memory, host, plain hash."""

    @extend_schema(
        parameters=[DOWNLOAD],
        responses={200: PrivateProvenanceSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, pk: int) -> Response:
        # Refused before the submission is looked up, so the answer says nothing about which ids exist.
        if not request.user.is_staff:
            who = "you are not signed in" if not request.user.is_authenticated else "your account is not staff"
            return Response(
                {
                    "detail": "the private provenance record is for the site's maintainers (staff accounts) only, "
                    f"and {who}: its exact timings and memory could carry what the model saw; the public record "
                    f"is at /api/v1/submissions/{pk}/provenance/",
                    "field": None,
                },
                status=status.HTTP_403_FORBIDDEN,
            )
        submission = get_object_or_404(Submission, pk=pk)
        run = submission.scored_run()
        if run is None:
            return Response({"detail": f"submission {pk} has no scored run yet", "field": None}, status=404)
        payload = {"submission": submission.pk, "attempt": run.attempt, "worker": run.worker, **run.private_record}
        response = Response(PrivateProvenanceSerializer(payload).data)
        return _as_download(response, request, f"submission-{submission.pk}-provenance-private.json")


class SubmissionWithdraw(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: SubmissionSerializer, 403: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request: Request, pk: int) -> Response:
        return _owners_change(request, pk, "withdraw", withdraw)


class SubmissionRestore(APIView):
    """Undo a withdrawal while the version is open; the submission is back on the board."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: SubmissionSerializer, 403: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request: Request, pk: int) -> Response:
        return _owners_change(request, pk, "restore", restore)


class SubmissionFinal(APIView):
    """Mark (POST) or unmark (DELETE) one of the team's final submissions while the version is open."""

    permission_classes = [permissions.IsAuthenticated]

    def _owned(self, request: Request, pk: int) -> Submission | Response:
        submission = visible_submission(request, pk)
        if not is_teammate(request.user, submission):
            return Response(
                {"detail": "only the team that submitted it can choose it as a final submission", "field": None},
                status=status.HTTP_403_FORBIDDEN,
            )
        return submission

    @extend_schema(request=None, responses={200: SubmissionSerializer, 403: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request: Request, pk: int) -> Response:
        submission = self._owned(request, pk)
        if isinstance(submission, Response):
            return submission
        marked = mark_final(submission=submission)
        return Response(SubmissionSerializer(marked, context={"request": request}).data)

    @extend_schema(request=None, responses={200: SubmissionSerializer, 403: ErrorSerializer, 409: ErrorSerializer})
    def delete(self, request: Request, pk: int) -> Response:
        submission = self._owned(request, pk)
        if isinstance(submission, Response):
            return submission
        unmarked = unmark_final(submission=submission)
        return Response(SubmissionSerializer(unmarked, context={"request": request}).data)
