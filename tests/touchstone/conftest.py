"""Fixtures for the site's tests: a second researcher, a weak model, uploads.

The published benchmark (``version``), ``researcher`` and ``good_model_bytes`` are in
``tests/conftest.py``: the web-layer security tests use them too.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models.functions import Now
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.models import centroid_model
from tests.services import free_port
from tests.touchstone.ledger import Hidden
from touchstone import tasks
from touchstone.submissions.models import Submission


@pytest.fixture(scope="session")
def weak_model_bytes(digits_dev, tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("models") / "weak.pt"
    return centroid_model(digits_dev.inputs, digits_dev.labels, 10, path, noise=0.9, seed=3).read_bytes()


def upload(content: bytes, name: str = "model.pt") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def silence(submission: Submission, seconds: float) -> None:
    """Make a submission row's last heartbeat ``seconds`` old by the database's own clock."""
    Submission.objects.filter(pk=submission.pk).update(heartbeat_at=Now() - timedelta(seconds=seconds))


@pytest.fixture
def other_researcher(db):
    return get_user_model().objects.create_user("grace", "grace@example.org", "a-long-password-2")


def api_client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def write_bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def numpy_equal_files(a: Path, b: Path) -> bool:
    with np.load(a) as left, np.load(b) as right:
        return sorted(left.files) == sorted(right.files) and all(
            np.array_equal(left[name], right[name]) for name in left.files
        )


def _fingerprint(value: object) -> object:
    """A hashable stand-in for one argument of ``evaluate_model``."""
    if isinstance(value, np.ndarray):
        return hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(), value.shape, str(value.dtype)
    if isinstance(value, dict):
        return tuple(sorted((key, _fingerprint(item)) for key, item in value.items()))
    return repr(value)


@pytest.fixture(scope="session")
def _sandbox_reports() -> dict:
    return {}


@pytest.fixture
def reused_sandbox_runs(monkeypatch, _sandbox_reports):
    """Run each distinct model once per session in the real sandbox and reuse its report.

    For tests of what pages and the API show from scored submissions: the same model on the
    same published split with the same settings gives the same report, so repeating the run in
    every test only costs time. Tests of scoring and of the sandbox itself do not use this.
    """
    from touchstone.submissions import scoring

    real = scoring.evaluate_model

    def evaluate_once(model_path, dataset, **keywords):
        key = (
            hashlib.sha256(Path(model_path).read_bytes()).hexdigest(),
            dataset.content_hash,
            dataset.split,
            tuple(sorted((name, _fingerprint(value)) for name, value in keywords.items() if name != "progress")),
        )
        if key not in _sandbox_reports:
            _sandbox_reports[key] = real(model_path, dataset, **keywords)
        return _sandbox_reports[key]

    monkeypatch.setattr(scoring, "evaluate_model", evaluate_once)


@pytest.fixture
def empty_cache():
    """Django's cache emptied before and after the test (throttle counts, cached breakdowns)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def hidden(version) -> Hidden:
    """The published digits version's hidden split, for building outcomes by hand."""
    return Hidden(version)


def _reset_connections(app) -> None:
    # Celery keeps a connection pool and a producer pool built from the broker URL it saw first;
    # dropping them makes the next publish build new ones from the URL set now.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """The Celery app talking to a Redis that is not running; call the fixture's value to bring it back."""
    app = tasks.evaluate_submission.app
    saved = (app.conf.broker_url, app.conf.broker_transport)
    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    app.conf.broker_transport = None
    _reset_connections(app)

    def back_up() -> None:
        app.conf.broker_url, app.conf.broker_transport = saved
        _reset_connections(app)

    yield back_up
    back_up()


@pytest.fixture(scope="session")
def emulator():
    """moto's S3 server on loopback, shared by the storage tests; each takes a fresh bucket."""
    from tests.object_storage import s3_emulator

    with s3_emulator() as endpoint:
        yield endpoint
