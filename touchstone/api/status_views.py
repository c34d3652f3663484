"""``GET /api/v1/status/``: the maintainers' status page as JSON."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from touchstone.api.serializers import ErrorSerializer
from touchstone.submissions.status import may_see_status, queue_status


class Status(APIView):
    """The evaluation queue, the workers and recent failures: staff see every benchmark, maintainers theirs."""

    @extend_schema(responses={200: dict, 401: ErrorSerializer, 403: ErrorSerializer})
    def get(self, request: Request) -> Response:
        if not request.user.is_authenticated:
            return Response(
                {"detail": "the status page is for maintainers and staff: send your API token", "field": None},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Token"},
            )
        if not may_see_status(request.user):
            return Response(
                {
                    "detail": "the status page is for the maintainers of a benchmark and the site's staff; your own "
                    "submissions, with their place in the queue, are at /api/v1/submissions/<id>/",
                    "field": None,
                },
                status=status.HTTP_403_FORBIDDEN,
            )
        return Response(queue_status(request.user))
