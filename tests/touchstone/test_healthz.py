"""``/healthz`` answers 200 when the site can take and evaluate uploads, 503 naming what fails."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from evaluation.sandbox.health import SandboxHealth
from tests.touchstone.conftest import upload
from touchstone.storage import write_file_atomically
from touchstone.submissions.health import HEALTH_FILE
from touchstone.submissions.models import Submission
from touchstone.submissions.services import submit_model


def record_sandbox(ok: bool) -> None:
    health = SandboxHealth(ok=ok, checked_at=0.0, seconds=1.0, layers=("bubblewrap",), problem="" if ok else "/x")
    write_file_atomically(HEALTH_FILE, [json.dumps(dataclasses.asdict(health)).encode()])


def test_a_healthy_site_answers_200_with_every_check_and_the_queue(client, db):
    record_sandbox(True)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "broker", "storage", "sandbox"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["queue"] == {"length": 0, "oldest_queued_seconds": None}


def test_the_queue_length_and_the_age_of_its_oldest_row_are_reported(client, version, researcher, good_model_bytes):
    for name in ("a", "b"):
        submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name=name)
    Submission.objects.filter(model_name="a").update(created_at=timezone.now() - timedelta(minutes=5))
    body = client.get("/healthz").json()
    assert body["queue"]["length"] == 2
    assert 299 <= body["queue"]["oldest_queued_seconds"] <= 330


def test_a_broker_that_is_down_fails_the_broker_check_only(client, db, broker_down):
    record_sandbox(True)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert "127.0.0.1" not in body["checks"]["broker"]["detail"]  # the answer is public


def test_storage_that_cannot_be_written_fails_the_storage_check(client, db, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.PRIVATE_STORAGE_ROOT = blocker / "private"
    # The sandbox's record lives in private storage too, so it cannot be read either.
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["storage", "sandbox"]


@pytest.mark.parametrize(("ok", "status"), [(True, 200), (False, 503)])
def test_the_sandbox_check_follows_the_last_recorded_probe(client, db, ok, status):
    record_sandbox(ok)
    response = client.get("/healthz")
    assert response.status_code == status
    assert response.json()["failing"] == ([] if ok else ["sandbox"])
    assert "/x" not in response.json()["checks"]["sandbox"]["detail"]


def test_a_site_whose_sandbox_was_never_probed_is_not_healthy(client, db):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["sandbox"]
    assert "check_sandbox" in response.json()["checks"]["sandbox"]["detail"]
