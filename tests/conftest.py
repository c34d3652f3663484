"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.databases import chosen_database, point_django_at, uses_django_database


def pytest_configure(config: pytest.Config) -> None:
    chosen_database()  # A misspelt choice stops the run before anything starts.


def pytest_report_header(config: pytest.Config) -> str:
    if chosen_database() == "postgres":
        return "Django test database: a throwaway PostgreSQL cluster (only tests that use it run)"
    return "Django test database: SQLite (TOUCHSTONE_TEST_DATABASE=postgres runs them on PostgreSQL)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The PostgreSQL run repeats only what depends on the database; the sandbox, statistics and
    # browser tests do not, and have already run once on SQLite.
    if chosen_database() != "postgres":
        return
    deselected = [item for item in items if not uses_django_database(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if uses_django_database(item)]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(service_folder):
    """Point pytest-django at a throwaway PostgreSQL cluster when the run asks for one."""
    if chosen_database() != "postgres":
        yield
        return
    from tests.services import postgres_server

    with postgres_server(service_folder / "test-database") as database_url:
        point_django_at(database_url)
        yield


@pytest.fixture(autouse=True)
def clean_runs_only(settings):
    """Site tests score clean unless they ask for the robustness suite (the ``with_suite`` fixture).

    The suite multiplies a run's sandbox work by about forty; the tests of what it computes and
    shows turn it on, the many tests of statuses, ledgers and pages need only the clean pass.
    """
    settings.EVALUATION_SUITE = False


@pytest.fixture(autouse=True)
def identical_uploads_allowed(settings):
    """Site tests may upload the same model file twice unless they ask for the refusal.

    Most tests send the one good model many times to test other things; the tests of the
    refusal turn it on with the ``refuse_identical_uploads`` fixture, as the site has it by default.
    """
    settings.REFUSE_IDENTICAL_UPLOADS = False


@pytest.fixture(autouse=True)
def current_public_pages(settings):
    """Anonymous visitors get the current page in tests, not one up to a few seconds old.

    Tests read a page right after changing what it shows, and one test's page must never reach
    the next; the tests of the short-lived cache of public pages turn it on themselves.
    """
    settings.PUBLIC_CACHE_SECONDS = 0


@pytest.fixture
def refuse_identical_uploads(settings):
    settings.REFUSE_IDENTICAL_UPLOADS = True


@pytest.fixture
def with_suite(settings):
    """Score with the version's robustness suite, as the site does by default."""
    settings.EVALUATION_SUITE = True


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    """Every test gets its own empty private storage (hidden splits, models, outcomes)."""
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    return settings.PRIVATE_STORAGE_ROOT


@pytest.fixture(scope="session")
def catalog_folder(tmp_path_factory) -> Path:
    """The shipped benchmarks built once for the session."""
    from catalog import BUILDERS

    folder = tmp_path_factory.mktemp("catalog")
    for slug, build in BUILDERS.items():
        build(folder / slug)
    return folder


@pytest.fixture(scope="session")
def digits_folder(catalog_folder) -> Path:
    return catalog_folder / "digits"


# The site's tests and the web-layer security tests share these: a published benchmark, a
# researcher and a model that scores well on it.


@pytest.fixture
def version(db, digits_folder):
    """The digits benchmark published in this test's database."""
    from touchstone.benchmarks.services import publish_benchmark

    return publish_benchmark(folder=digits_folder)


@pytest.fixture(scope="session")
def digits_dev(digits_folder):
    """The digits benchmark's public dev split."""
    from evaluation.spec import load_benchmark

    return load_benchmark(digits_folder).load_split("dev")


@pytest.fixture(scope="session")
def good_model_bytes(digits_dev, tmp_path_factory) -> bytes:
    """A TorchScript centroid classifier that scores well on digits."""
    from tests.models import centroid_model

    path = tmp_path_factory.mktemp("models") / "centroid.pt"
    return centroid_model(digits_dev.inputs, digits_dev.labels, 10, path).read_bytes()


@pytest.fixture
def researcher(db):
    """The researcher ``ada``, whose password is ``a-long-password-1``."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("ada", "ada@example.org", "a-long-password-1")


@pytest.fixture(scope="session")
def service_folder():
    """A folder other users (PostgreSQL runs as its own user) may enter."""
    folder = Path(tempfile.mkdtemp(prefix="touchstone-services-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def model_files(digits_folder, tmp_path_factory) -> dict[str, Path]:
    """Real TorchScript files for the digits benchmark: two good models and a broken one."""
    from evaluation.spec import load_benchmark
    from tests.models import centroid_model
    from tests.security.models import build_malformed_model

    folder = tmp_path_factory.mktemp("model-files")
    dev = load_benchmark(digits_folder).load_split("dev")
    return {
        "strong": centroid_model(dev.inputs, dev.labels, 10, folder / "strong.pt"),
        "weak": centroid_model(dev.inputs, dev.labels, 10, folder / "weak.pt", noise=0.9, seed=3),
        "nan": build_malformed_model(folder, "nan"),
    }


@pytest.fixture(scope="session")
def production_site(service_folder, digits_folder):
    """PostgreSQL + Redis + gunicorn + a Celery worker, with the digits benchmark published."""
    from tests.services import postgres_server, redis_server, running_site

    with (
        postgres_server(service_folder / "postgres") as database_url,
        redis_server(service_folder / "redis") as broker_url,
        running_site(
            service_folder / "production", database_url=database_url, broker_url=broker_url, benchmarks=[digits_folder]
        ) as site,
    ):
        site.database_url = database_url
        site.broker_url = broker_url
        yield site


@pytest.fixture
def broken_bubblewrap(monkeypatch) -> Path:
    """A ``bwrap`` that fails the way a host without user namespaces makes it fail.

    It lives in a folder every user may enter: a root worker starts bubblewrap as the sandbox's
    own account, which cannot reach pytest's private temporary folders.
    """
    folder = Path(tempfile.mkdtemp(prefix="touchstone-broken-bwrap-"))
    folder.chmod(0o755)
    broken = folder / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr("evaluation.sandbox.bwrap.find_bwrap", lambda: str(broken))
    yield broken
    shutil.rmtree(folder, ignore_errors=True)
