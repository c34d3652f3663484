"""The site's use of the sandbox probe: after a start-up failure, on a schedule, on every page."""

from __future__ import annotations

import dataclasses
import json

from django.test import Client

from evaluation.sandbox.health import SandboxHealth
from tests.touchstone.conftest import upload
from touchstone.storage import write_file_atomically
from touchstone.submissions.health import HEALTH_FILE, latest_health
from touchstone.submissions.models import Submission
from touchstone.submissions.services import submit_model
from touchstone.tasks import evaluate_submission


def _store(health: SandboxHealth) -> None:
    write_file_atomically(HEALTH_FILE, [json.dumps(dataclasses.asdict(health)).encode()])


def test_every_page_warns_while_the_last_probe_failed(db):
    client = Client()
    assert "sandbox-health-banner" not in client.get("/").content.decode()

    _store(SandboxHealth(ok=False, checked_at=0.0, seconds=1.0, layers=(), problem="bwrap: no namespaces"))
    page = client.get("/").content.decode()

    assert "sandbox-health-banner" in page
    assert "no namespaces" not in page  # the problem names host details: maintainers only

    _store(SandboxHealth(ok=True, checked_at=1.0, seconds=1.0, layers=("bubblewrap",), problem=""))
    assert "sandbox-health-banner" not in client.get("/").content.decode()


def test_a_start_up_failure_runs_the_probe_and_records_that_the_sandbox_is_broken(
    version, researcher, good_model_bytes, broken_bubblewrap
):
    submission = submit_model(
        owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="Centroids"
    )

    assert evaluate_submission.run(submission.pk) == "failed"

    submission.refresh_from_db()
    assert submission.error_code == "sandbox_unavailable"
    assert submission.counts_against_quota is False
    assert "bwrap" not in submission.error_message
    health = latest_health()
    assert health is not None and not health.ok
    assert "No permissions to create new namespace" in health.problem
    assert Submission.objects.filter(pk=submission.pk, status="failed").exists()
