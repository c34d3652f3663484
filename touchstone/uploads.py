"""Request bodies are refused past their cap as they arrive, never after they are written.

Two checks, one message:

- ``RequestSizeLimitMiddleware`` answers 413 to a request whose ``Content-Length`` announces
  more than the URL's cap, before anything reads the body;
- ``CappedTemporaryFileUploadHandler`` streams each uploaded file to a temporary file and, the
  moment a file grows past the cap, removes what it wrote and stops the upload with a 413.

The cap is the model file limit (``MAX_UPLOAD_BYTES``) for every URL but the maintainers'
benchmark drafts, whose archives may reach ``MAX_DRAFT_BYTES``; a body may exceed its file cap
by ``FORM_ALLOWANCE_BYTES`` for the form's other fields and the multipart framing. Under
``/api/`` the refusal is in the API's one error shape; elsewhere it is a short page.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import APIException

FORM_ALLOWANCE_BYTES = 1024 * 1024
"""What a body may hold beyond its file: the other form fields and the multipart boundaries."""

API_PREFIX = "/api/"


def file_cap(path: str) -> int:
    """The largest file a request to ``path`` may upload, in bytes."""
    if "/drafts/" in path:
        return settings.MAX_DRAFT_BYTES
    return settings.MAX_UPLOAD_BYTES


def body_cap(path: str) -> int:
    """The largest request body ``path`` accepts, in bytes."""
    return file_cap(path) + FORM_ALLOWANCE_BYTES


MIB = 1024 * 1024


def mib(size_bytes: float) -> str:
    """A size for people, in MiB (2^20 bytes), the one unit the site names sizes in: ``100 MiB``."""
    return f"{size_bytes / MIB:.1f} MiB".replace(".0 MiB", " MiB")


class UploadTooLarge(APIException):
    """A body or file past its cap; the API answers 413 in its error shape, pages a short page."""

    status_code = 413
    default_code = "too_large"


def refusal(path: str, *, announced: int | None = None) -> str:
    """The 413 message: what was too large, the limit, and what to do."""
    cap = file_cap(path)
    what = "the model file" if "/drafts/" not in path else "the benchmark archive"
    if announced is not None:
        return (
            f"the request announces {mib(announced)}; {what} may be at most {mib(cap)} "
            f"(plus {mib(FORM_ALLOWANCE_BYTES)} for the form): send a smaller file"
        )
    return f"{what} is larger than the {mib(cap)} limit: send a smaller file"


def too_large_response(request: HttpRequest, message: str) -> HttpResponse:
    # No "Connection: close" here: it is a hop-by-hop header, which a WSGI application may not
    # set (PEP 3333; waitress refuses the response with a 500). The server decides about the
    # connection: waitress has buffered the body up to its own cap and refused anything larger.
    if request.path.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse({"detail": message, "field": "model_file"}, status=413)
    else:
        response = HttpResponse(f"Too large: {message}.\n", status=413, content_type="text/plain; charset=utf-8")
    return response


class RequestSizeLimitMiddleware:
    """Refuse a body announced past the cap before reading it; turn a refused upload into a 413."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            announced = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            announced = 0
        if announced > body_cap(request.path):
            return too_large_response(request, refusal(request.path, announced=announced))
        if (
            request.method == "POST"
            and not request.path.startswith(API_PREFIX)
            and request.content_type == "multipart/form-data"
        ):
            # A page's form is parsed here, before the CSRF check reads it: a refusal raised
            # there would reach Django's generic handler as a 500. The API parses its own
            # bodies (DRF), and its handler answers the refusal in the JSON shape.
            try:
                request.POST  # noqa: B018  (parsing is the point)
            except UploadTooLarge as error:
                return too_large_response(request, str(error.detail))
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # The API's views answer their own (DRF's handler); a page's form meets it here.
        if isinstance(exception, UploadTooLarge):
            return too_large_response(request, str(exception.detail))
        return None


class CappedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file handler, which refuses a file past the cap as it arrives."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        path = self.request.path if self.request is not None else ""
        if content_length > body_cap(path):
            raise UploadTooLarge(refusal(path, announced=content_length))
        return super().handle_raw_input(input_data, META, content_length, boundary, encoding)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        path = self.request.path if self.request is not None else ""
        if start + len(raw_data) > file_cap(path):
            # Nothing of the refused file stays on disk.
            self.upload_interrupted()
            raise UploadTooLarge(refusal(path))
        return super().receive_data_chunk(raw_data, start)
