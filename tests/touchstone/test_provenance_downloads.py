"""Downloading a run's provenance: the public part for whoever may see the submission, the
maintainers' part for staff only."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from tests.security.test_provenance_disclosure import BATCH_SECONDS, PEAK_MEMORY, WORKER, scored
from tests.touchstone.conftest import api_client_for
from touchstone.submissions.models import Submission

WHO = ["anonymous", "researcher", "owner", "staff"]


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("maud", "maud@example.org", "a-long-password-3", is_staff=True)


@pytest.fixture
def people(researcher, other_researcher, staff) -> dict:
    # The submissions below belong to ``researcher``; ``other_researcher`` is someone else.
    return {"anonymous": None, "researcher": other_researcher, "owner": researcher, "staff": staff}


@pytest.fixture
def submission(version, researcher, digits_folder, monkeypatch) -> Submission:
    monkeypatch.setattr("platform.node", lambda: WORKER)
    return scored(version, researcher, digits_folder)


def page_for(user) -> str:
    def get(url: str) -> str:
        client = Client()
        if user is not None:
            client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200
        return response.content.decode()

    return get


def api_for(user) -> APIClient:
    return APIClient() if user is None else api_client_for(user)


def link(text: str, element_id: str) -> str | None:
    found = re.search(rf'<a id="{element_id}" href="([^"]+)" download>', text)
    return None if found is None else found.group(1)


@pytest.mark.parametrize("who", WHO)
def test_everyone_who_may_see_the_submission_gets_a_download_link_and_only_staff_the_private_one(
    submission, people, who
):
    text = page_for(people[who])(f"/submissions/{submission.pk}/")
    assert link(text, "provenance-download") == f"/api/v1/submissions/{submission.pk}/provenance/?download=1"
    assert "Download provenance (JSON)" in text
    private = link(text, "private-provenance-download")
    if who == "staff":
        assert private == f"/api/v1/submissions/{submission.pk}/provenance/private/?download=1"
    else:
        assert private is None and "/provenance/private/" not in text


@pytest.mark.parametrize("who", WHO)
def test_the_public_download_is_a_json_attachment_with_the_public_part_only(submission, people, who):
    response = api_for(people[who]).get(f"/api/v1/submissions/{submission.pk}/provenance/?download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="submission-{submission.pk}-provenance.json"'
    record = json.loads(response.content)
    assert record["submission"] == submission.pk
    assert record["predictions_hmac_sha256"] == submission.scored_run().provenance["predictions_hmac_sha256"]
    # Even a maintainer's download holds no private figure: a file passed on must be safe to pass on.
    text = response.content.decode()
    assert "private" not in record and WORKER not in text and str(PEAK_MEMORY) not in text
    assert submission.scored_run().private_record["predictions_sha256"] not in text
    # Viewed rather than downloaded, the record is no attachment.
    assert "Content-Disposition" not in api_for(people[who]).get(f"/api/v1/submissions/{submission.pk}/provenance/")


@pytest.mark.parametrize(
    ("who", "reason"), [("anonymous", "you are not signed in"), ("researcher", "your account is not staff"),
                        ("owner", "your account is not staff")],
)  # fmt: skip
def test_the_private_record_is_refused_to_everyone_but_staff_saying_why(submission, people, who, reason):
    response = api_for(people[who]).get(f"/api/v1/submissions/{submission.pk}/provenance/private/?download=1")
    assert response.status_code == 403
    body = response.json()
    assert body["field"] is None
    assert "for the site's maintainers (staff accounts) only" in body["detail"] and reason in body["detail"]
    text = response.content.decode()
    assert WORKER not in text and str(PEAK_MEMORY) not in text and "Content-Disposition" not in response


def test_staff_download_the_private_record_with_the_exact_figures(submission, staff):
    response = api_client_for(staff).get(f"/api/v1/submissions/{submission.pk}/provenance/private/?download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="submission-{submission.pk}-provenance-private.json"'
    )
    record = json.loads(response.content)
    run = submission.scored_run()
    assert record["submission"] == submission.pk and record["attempt"] == run.attempt and record["worker"] == WORKER
    assert record["sandbox"]["batch_seconds"] == list(BATCH_SECONDS)
    assert record["sandbox"]["peak_memory_bytes"] == PEAK_MEMORY
    assert record["predictions_sha256"] == run.private_record["predictions_sha256"]
    assert record["timings"] == run.private_record["timings"] and record["host"] == run.private_record["host"]
    # The private part only: the public record has its own endpoint.
    assert "predictions_hmac_sha256" not in record and "artifact" not in record


def test_a_refusal_does_not_tell_whether_a_submission_exists(submission, researcher, staff):
    known = api_client_for(researcher).get(f"/api/v1/submissions/{submission.pk}/provenance/private/")
    unknown = api_client_for(researcher).get(f"/api/v1/submissions/{submission.pk + 1000}/provenance/private/")
    assert known.status_code == unknown.status_code == 403
    # The message differs only by the id it repeats (to point at the public record).
    assert known.json()["detail"].replace(f"/{submission.pk}/", "/N/") == unknown.json()["detail"].replace(
        f"/{submission.pk + 1000}/", "/N/"
    )
    assert (
        api_client_for(staff).get(f"/api/v1/submissions/{submission.pk + 1000}/provenance/private/").status_code == 404
    )


def test_staff_are_told_when_a_submission_has_no_scored_run(version, researcher, staff):
    queued = Submission.objects.create(
        owner=researcher,
        version=version,
        model_name="Waiting",
        team=researcher.username,
        model_path="x",
        model_format="torchscript",
        sha256="d" * 64,
        size_bytes=1,
    )
    response = api_client_for(staff).get(f"/api/v1/submissions/{queued.pk}/provenance/private/")
    assert response.status_code == 404
    assert response.json()["detail"] == f"submission {queued.pk} has no scored run yet"


def test_the_schema_documents_the_private_record_the_refusal_and_the_download_parameter(db):
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    private = schema["paths"]["/api/v1/submissions/{id}/provenance/private/"]["get"]
    assert {"200", "403", "404"} <= set(private["responses"])
    body = private["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"worker", "timings", "sandbox", "host", "predictions_sha256"} <= set(
        schema["components"]["schemas"][body]["properties"]
    )
    for path in ("/api/v1/submissions/{id}/provenance/", "/api/v1/submissions/{id}/provenance/private/"):
        assert "download" in [parameter["name"] for parameter in schema["paths"][path]["get"]["parameters"]]
    public = schema["paths"]["/api/v1/submissions/{id}/provenance/"]["get"]["responses"]["200"]["content"]
    record = public["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "bootstrap" in schema["components"]["schemas"][record]["properties"]
