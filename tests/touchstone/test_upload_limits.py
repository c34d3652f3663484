"""A body past its cap is refused before it is read, and a file past its cap as it arrives."""

from __future__ import annotations

import io
import os

import pytest
from django.core.files.uploadhandler import StopUpload
from django.test import Client, RequestFactory

from tests.touchstone.conftest import api_client_for, upload
from touchstone.submissions.models import Submission
from touchstone.uploads import FORM_ALLOWANCE_BYTES, CappedTemporaryFileUploadHandler, UploadTooLarge

MB = 1024 * 1024


@pytest.fixture
def upload_temp(settings, tmp_path):
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


def test_a_body_announced_past_the_cap_is_refused_before_a_byte_of_it_is_read(version, researcher, settings):
    # The test client's body raises if anything reads past the 5 bytes it holds: a 413 with the
    # body unread is the only way this request can answer in the JSON shape.
    settings.MAX_UPLOAD_BYTES = 100 * MB
    response = api_client_for(researcher).generic(
        "POST",
        "/api/v1/submissions/",
        b"hello",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(2 * 1024 * MB),
    )
    assert response.status_code == 413
    body = response.json()
    assert body["field"] == "model_file"
    assert "2048 MiB" in body["detail"] and "100 MiB" in body["detail"]
    assert Submission.objects.count() == 0


def test_the_upload_page_refuses_a_body_announced_past_the_cap_with_a_short_page(client, version, researcher):
    client.force_login(researcher)
    response = client.generic(
        "POST",
        f"/benchmarks/digits/{version.version}/submit/",
        b"hello",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(150 * MB),
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")
    assert "150 MiB" in response.content.decode()


def test_a_file_past_the_cap_is_refused_as_it_arrives_and_its_temporary_file_removed(settings, upload_temp):
    settings.MAX_UPLOAD_BYTES = 3 * MB
    request = RequestFactory().post("/api/v1/submissions/")
    handler = CappedTemporaryFileUploadHandler(request)
    handler.handle_raw_input(io.BytesIO(), {}, 3 * MB + FORM_ALLOWANCE_BYTES, "x")
    handler.new_file("model_file", "model.pt", "application/octet-stream", None)
    temporary = handler.file.temporary_file_path()
    chunk = b"\0" * (64 * 1024)
    received = 0
    refusal: UploadTooLarge | None = None
    while received < 10 * MB:
        try:
            handler.receive_data_chunk(chunk, received)
        except UploadTooLarge as error:
            refusal = error
            break
        received += len(chunk)
    # It stopped at the chunk that crossed the cap, not at the end of the body.
    assert refusal is not None and received == 3 * MB
    assert "3 MiB limit" in str(refusal.detail)
    assert not os.path.exists(temporary)
    assert list(upload_temp.iterdir()) == []


def test_an_upload_whose_file_grows_past_the_cap_answers_413_and_leaves_no_file(
    version, researcher, settings, upload_temp
):
    # The body is within the body cap (file cap plus the form's allowance), the file is not.
    settings.MAX_UPLOAD_BYTES = 3 * MB
    response = api_client_for(researcher).post(
        "/api/v1/submissions/",
        {
            "benchmark": "digits",
            "version": version.version,
            "model_name": "Big",
            "model_file": upload(b"\0" * (3 * MB + 512 * 1024)),
        },
        format="multipart",
    )
    assert response.status_code == 413, response.content
    assert response.json()["field"] == "model_file"
    assert "limit" in response.json()["detail"]
    assert list(upload_temp.iterdir()) == []
    assert Submission.objects.count() == 0


def test_stop_upload_is_not_what_refuses_so_the_refusal_reaches_the_client():
    # Django swallows StopUpload and goes on with the request as if no file was sent, which
    # would answer "model_file: required" instead of the size; the refusal must not be one.
    assert not issubclass(UploadTooLarge, StopUpload)


def test_the_upload_page_refuses_a_file_that_grows_past_the_cap_with_a_413_even_under_csrf_checks(
    version, researcher, settings, upload_temp
):
    # With CSRF checks on, the CSRF middleware reads the form before the view: the refusal must
    # still be a 413, not a server error.
    settings.MAX_UPLOAD_BYTES = 3 * MB
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(researcher)
    response = client.post(
        f"/benchmarks/digits/{version.version}/submit/",
        {"model_name": "Big", "model_file": upload(b"\0" * (3 * MB + 512 * 1024))},
    )
    assert response.status_code == 413, response.content[:300]
    assert "3 MiB limit" in response.content.decode()
    assert list(upload_temp.iterdir()) == []
    assert Submission.objects.count() == 0
