"""``GET /api/v1/about/``: which site this is, so a client can say what it talks to."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import evaluation

SITE_NAME = "Touchstone"


class AboutSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Always `Touchstone`: a client checks it before it sends anything.")
    version = serializers.CharField(help_text="The release of Touchstone the site runs.")
    evaluator_version = serializers.CharField(
        help_text="The version of the evaluation code; a local evaluation under another version may differ."
    )
    api = serializers.CharField(help_text="The API's version, `v1`.")
    max_upload_bytes = serializers.IntegerField(help_text="The largest model file the site accepts, in bytes.")
    evaluation_batch_size = serializers.IntegerField(
        help_text="Items per batch in the sandbox; the preflight runs one full batch and a batch of one."
    )
    sandbox_memory_bytes = serializers.IntegerField(help_text="The memory a model's sandbox may use, in bytes.")


def about() -> dict[str, object]:
    """The site's identity and the limits a client applies before it uploads."""
    return {
        "name": SITE_NAME,
        "version": evaluation.__version__,
        "evaluator_version": evaluation.EVALUATOR_VERSION,
        "api": "v1",
        "max_upload_bytes": settings.MAX_UPLOAD_BYTES,
        "evaluation_batch_size": settings.EVALUATION_BATCH_SIZE,
        "sandbox_memory_bytes": settings.SANDBOX_MEMORY_BYTES,
    }


class About(APIView):
    @extend_schema(responses=AboutSerializer)
    def get(self, request: Request) -> Response:
        return Response(AboutSerializer(about()).data)
