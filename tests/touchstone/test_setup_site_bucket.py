"""``setup_site`` on a site whose private storage is a bucket: another machine fetches what it published."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from evaluation.spec import load_benchmark
from tests.object_storage import s3_client, use_new_bucket
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.storage import fetch_folder


@pytest.fixture
def bucket(settings, emulator, tmp_path):
    settings.DATA_DIR = tmp_path / "setup-machine"
    return use_new_bucket(settings, emulator, tmp_path / "setup-machine" / "storage-cache")


def setup_site() -> str:
    output = io.StringIO()
    call_command("setup_site", "--only", "digits", "--no-baselines", stdout=output)
    return output.getvalue()


def test_setup_site_puts_the_hidden_split_in_the_bucket_and_another_machine_fetches_it(
    db, settings, emulator, bucket, tmp_path
):
    assert "published digits" in setup_site()
    version = BenchmarkVersion.objects.get(benchmark__slug="digits")
    listing = s3_client(emulator).list_objects_v2(Bucket=bucket, Prefix=f"{version.storage_path}/")
    stored = {item["Key"][len(version.storage_path) + 1 :] for item in listing.get("Contents", [])}
    assert set(version.file_hashes) <= stored
    assert any(name.startswith("test") for name in version.file_hashes)  # the hidden split is among them

    settings.STORAGE_CACHE_DIR = tmp_path / "worker-machine"
    folder = fetch_folder(version.storage_path, version.file_hashes, verify=True)
    assert folder.is_relative_to(tmp_path / "worker-machine")
    hidden = load_benchmark(folder).load_split("test")
    assert len(hidden.labels) == version.n_test_items

    settings.STORAGE_CACHE_DIR = tmp_path / "web-machine"
    assert Client().get(version.get_absolute_url()).status_code == 200

    # Run again, as a redeployment does: the same version is found published, nothing is added.
    settings.STORAGE_CACHE_DIR = tmp_path / "setup-machine" / "storage-cache"
    assert "already published" in setup_site()
    assert BenchmarkVersion.objects.count() == 1
