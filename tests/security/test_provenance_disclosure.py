"""What a scored submission's public record gives away: reproduction facts and a coarse cost.

A hostile model controls its own latencies and memory after it has seen the hidden inputs, so
any exact figure of them is a channel out of the sandbox. These tests record a run whose
figures look like such a channel (every batch latency and the peak memory carry many digits)
and read it back as a visitor, as its owner and as a maintainer, through the API and the page.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import platform
import sys

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from evaluation.provenance import build_provenance, keyed_predictions_hash, predictions_hash
from evaluation.runner import EvaluationReport
from evaluation.sandbox.limits import SandboxReport
from evaluation.spec import load_benchmark
from evaluation.statistics import Interval
from tests.evaluation.test_provenance import significant_figures
from touchstone.benchmarks.services import publish_benchmark
from touchstone.submissions.models import EvaluationRun, Submission
from touchstone.submissions.provenance import predictions_key
from touchstone.submissions.scoring import _record_success

WORKER = "eval-worker-7c1e.internal"
# Latencies and memory as an exfiltrating model would shape them: digits that encode inputs.
BATCH_SECONDS = (0.0314159265, 0.0271828182, 0.0161803398, 0.0141421356)
PEAK_MEMORY = 358_979_323


@pytest.fixture
def version(db, digits_folder):
    return publish_benchmark(folder=digits_folder)


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("mallory", "mallory@example.org", "a-long-password-1")


@pytest.fixture
def maintainer(db):
    return get_user_model().objects.create_user("maud", "maud@example.org", "a-long-password-2", is_staff=True)


@pytest.fixture
def host(monkeypatch):
    # The test machine's own host name may be too short to look for in a page.
    monkeypatch.setattr(platform, "node", lambda: WORKER)


def scored(version, owner, digits_folder, probabilities: np.ndarray | None = None) -> Submission:
    """A submission recorded by the worker's own code, from a report with exfiltrating figures."""
    test = load_benchmark(digits_folder).load_split("test")
    if probabilities is None:
        probabilities = np.eye(10, dtype=np.float32)[test.labels]
    submission = Submission.objects.create(
        owner=owner,
        version=version,
        model_name="Innocent",
        team=owner.username,
        model_path="x",
        model_format="torchscript",
        sha256="d" * 64,
        size_bytes=1,
        status=Submission.Status.RUNNING,
    )
    run = EvaluationRun.objects.create(submission=submission, attempt=1, worker=WORKER)
    # The run is the submission's current one, as ``start_run`` leaves it.
    Submission.objects.filter(pk=submission.pk).update(current_run=run)
    session = SandboxReport(
        layers=("bubblewrap", "seccomp", "rlimits", "cgroup-memory"),
        startup_seconds=1.41421356,
        batch_seconds=BATCH_SECONDS,
        items=len(test.labels),
        peak_memory_bytes=PEAK_MEMORY,
        parameter_count=7850,
        model_format="torchscript",
        peak_memory_source="cgroup",
        wall_seconds=2.718281828,
    )
    records = build_provenance(
        model_sha256=submission.sha256,
        model_format="torchscript",
        benchmark_slug="digits",
        benchmark_version=version.version,
        content_hash=version.content_hash,
        file_hashes=version.file_hashes,
        split="test",
        seeds={"feedback": 1, "final": 2},
        sandbox=session,
        batch_size=256,
        timings={"inference_seconds": 3.3219280949, "total_seconds": 4.6692016091},
        probabilities=probabilities,
        predictions_key=predictions_key(),
    )
    interval = Interval(value=0.9, ci_low=0.85, ci_high=0.95)
    report = EvaluationReport(
        split="test",
        item_ids=test.item_ids,
        probabilities=probabilities,
        metrics={part: {"accuracy": interval} for part in ("feedback", "final")},
        sandbox=dataclasses.asdict(session),
        provenance=records.public.to_dict(),
        private_record=records.private.to_dict(),
    )
    assert _record_success(submission, run, report) == "scored"
    submission.refresh_from_db()
    return submission


def secrets_of(submission: Submission) -> list[str]:
    """Every private detail of the run, as text that must not appear in public."""
    run = submission.scored_run()
    private = run.private_record
    found = [
        WORKER,
        private["host"]["release"],
        private["host"]["python_executable"],
        private["predictions_sha256"],
        str(PEAK_MEMORY),
        "3.3219",
        "4.6692",
        "1.4142135",
        "2.71828",
    ]
    found += [repr(seconds)[:7] for seconds in BATCH_SECONDS]
    assert private["host"] == {"hostname": WORKER, "release": platform.release(), "python_executable": sys.executable}
    return found


def api_client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def page_client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("who", ["visitor", "owner"])
def test_the_public_record_has_no_exact_cost_no_host_and_no_plain_hash(version, owner, digits_folder, host, who):
    submission = scored(version, owner, digits_folder)
    client = APIClient() if who == "visitor" else api_client_for(owner)
    response = client.get(f"/api/v1/submissions/{submission.pk}/provenance/")
    assert response.status_code == 200
    record = response.json()
    text = json.dumps(record) + client.get(f"/api/v1/submissions/{submission.pk}/").content.decode()
    for secret in secrets_of(submission):
        assert secret not in text, secret
    assert "private" not in record and "worker" not in record
    assert '"batch_seconds"' not in text and '"predictions_sha256"' not in text and '"release"' not in text
    assert record["cost"] == {"median_batch_seconds": 0.022, "peak_memory_bytes": 360_000_000, "startup_seconds": 1.4}
    assert all(significant_figures(value) <= 2 for value in record["cost"].values())
    assert record["platform"] == {"system": platform.system(), "machine": platform.machine()}
    assert record["inference"] == {
        "items": len(load_benchmark(digits_folder).load_split("test").labels),
        "batch_size": 256,
    }
    assert record["predictions_hmac_sha256"] != submission.scored_run().private_record["predictions_sha256"]


@pytest.mark.parametrize("who", ["visitor", "owner"])
def test_the_submission_page_shows_the_coarse_cost_and_nothing_private(version, owner, digits_folder, host, who):
    submission = scored(version, owner, digits_folder)
    page = page_client_for(owner if who == "owner" else None).get(f"/submissions/{submission.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    for secret in secrets_of(submission):
        assert secret not in text, secret
    assert "median 0.022 s per batch of 256" in text and "peak memory 360 MB" in text and "start-up 1.4 s" in text
    assert submission.scored_run().provenance["predictions_hmac_sha256"][:16] in text
    assert 'id="private-record"' not in text


def test_a_maintainer_gets_the_private_record_through_the_api(version, owner, maintainer, digits_folder, host):
    submission = scored(version, owner, digits_folder)
    record = api_client_for(maintainer).get(f"/api/v1/submissions/{submission.pk}/provenance/").json()
    private = record["private"]
    assert private["worker"] == WORKER
    assert private["sandbox"]["batch_seconds"] == list(BATCH_SECONDS)
    assert private["sandbox"]["peak_memory_bytes"] == PEAK_MEMORY
    assert private["host"]["python_executable"] == sys.executable
    assert private["predictions_sha256"] == predictions_hash(
        np.eye(10, dtype=np.float32)[load_benchmark(digits_folder).load_split("test").labels]
    )
    # The public part a maintainer sees is the same as everyone's.
    assert {key: value for key, value in record.items() if key != "private"} == APIClient().get(
        f"/api/v1/submissions/{submission.pk}/provenance/"
    ).json()


def test_a_maintainer_sees_the_private_record_on_the_page(version, owner, maintainer, digits_folder, host):
    submission = scored(version, owner, digits_folder)
    text = page_client_for(maintainer).get(f"/submissions/{submission.pk}/").content.decode()
    assert 'id="private-record"' in text
    plain_hash = submission.scored_run().private_record["predictions_sha256"]
    for detail in (WORKER, sys.executable, platform.release(), plain_hash, repr(BATCH_SECONDS[0]), str(PEAK_MEMORY)):
        assert detail in text, detail


def test_the_admin_shows_a_maintainer_the_private_record(version, owner, digits_folder, host):
    submission = scored(version, owner, digits_folder)
    superuser = get_user_model().objects.create_superuser("root", "root@example.org", "a-long-password-3")
    run = submission.scored_run()
    text = page_client_for(superuser).get(f"/admin/submissions/evaluationrun/{run.pk}/change/").content.decode()
    assert WORKER in text and str(PEAK_MEMORY) in text and run.private_record["predictions_sha256"] in text


def test_equal_predictions_show_equal_keyed_hashes_and_others_do_not(version, owner, digits_folder, host):
    labels = load_benchmark(digits_folder).load_split("test").labels
    first = scored(version, owner, digits_folder)
    second = scored(version, owner, digits_folder)
    other = scored(version, owner, digits_folder, np.eye(10, dtype=np.float32)[(labels + 1) % 10])
    hashes = [
        APIClient().get(f"/api/v1/submissions/{s.pk}/provenance/").json()["predictions_hmac_sha256"]
        for s in (first, second, other)
    ]
    assert hashes[0] == hashes[1] != hashes[2]
    # Nobody without the site's key can check a guess of the predictions against it.
    guess = np.eye(10, dtype=np.float32)[labels]
    assert hashes[0] not in {predictions_hash(guess), keyed_predictions_hash(guess, b"guessed key")}


def test_the_keyed_hash_depends_on_the_secret_key(settings):
    first = predictions_key()
    settings.SECRET_KEY = "another secret key of fifty or more random characters, for the test"
    assert predictions_key() != first and len(first) == 32


def test_a_record_stored_with_private_fields_shows_only_the_public_ones(version, owner, digits_folder, host):
    submission = scored(version, owner, digits_folder)
    run = submission.scored_run()
    # As runs were recorded before the split: host, exact timings and the plain hash inline.
    legacy = dict(
        run.provenance,
        timings={"total_seconds": 4.6692016091},
        predictions_sha256="e" * 64,
        platform={
            "system": "Linux",
            "machine": "x86_64",
            "release": platform.release(),
            "python_executable": sys.executable,
        },
        sandbox={"layers": ["bubblewrap"], "batch_seconds": list(BATCH_SECONDS)},
    )
    EvaluationRun.objects.filter(pk=run.pk).update(provenance=legacy)
    text = APIClient().get(f"/api/v1/submissions/{submission.pk}/provenance/").content.decode()
    text += Client().get(f"/submissions/{submission.pk}/").content.decode()
    for secret in ("4.6692", "e" * 64, platform.release(), sys.executable, repr(BATCH_SECONDS[0])):
        assert secret not in text, secret


def test_the_migration_moves_private_fields_of_stored_records_out_of_public_view():
    migration = importlib.import_module("touchstone.submissions.migrations.0002_evaluationrun_private_record")
    old = {
        "artifact": {"sha256": "a" * 64},
        "benchmark": {
            "slug": "digits",
            "version": "1.0.0",
            "content_hash": "b" * 64,
            "file_hashes": {},
            "split": "test",
        },
        "evaluator": {"version": "0.1.0", "revision": "c" * 40},
        "packages": {"python": "3.11.7"},
        "platform": {
            "system": "Linux",
            "release": "6.1.0-18-amd64",
            "machine": "x86_64",
            "python_executable": "/root/.pyenv/versions/3.11.7/bin/python",
        },
        "seeds": {"feedback": 1},
        "timings": {"inference_seconds": 3.3219, "total_seconds": 4.6692},
        "sandbox": {
            "layers": ["bubblewrap"],
            "startup_seconds": 1.41421356,
            "batch_seconds": list(BATCH_SECONDS),
            "items": 4,
            "peak_memory_bytes": PEAK_MEMORY,
            "parameter_count": 7850,
            "model_format": "torchscript",
        },
        "predictions_sha256": "f" * 64,
    }
    public, private = migration._split(old, {}, {})
    text = json.dumps(public)
    for secret in (
        "6.1.0-18",
        "/root/",
        "3.3219",
        "4.6692",
        "1.4142135",
        str(PEAK_MEMORY),
        "f" * 64,
        repr(BATCH_SECONDS[0]),
    ):
        assert secret not in text, secret
    assert public["cost"] == {"median_batch_seconds": 0.022, "peak_memory_bytes": None, "startup_seconds": 1.4}
    assert public["sandbox"] == {"layers": ["bubblewrap"]}
    assert private["sandbox"]["batch_seconds"] == list(BATCH_SECONDS)
    assert private["predictions_sha256"] == "f" * 64
    assert private["host"]["release"] == "6.1.0-18-amd64"
