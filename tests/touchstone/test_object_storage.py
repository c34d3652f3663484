"""Private storage in an S3-compatible bucket (moto's server on loopback), each machine with its own cache."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.object_storage import s3_client, use_new_bucket
from touchstone.storage import (
    StorageIntegrityError,
    delete_folder,
    fetch_file,
    fetch_folder,
    is_remote,
    private_path,
    private_storage,
    store_folder,
    write_file_atomically,
)
from touchstone.storage_backends import PrivateFilesHaveNoURL

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bucket(settings, emulator, tmp_path):
    """Private storage in a fresh bucket; this machine's cache is ``tmp_path / "machine-a"``."""
    return use_new_bucket(settings, emulator, tmp_path / "machine-a")


def stored_keys(endpoint: str, bucket: str) -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def become_another_machine(settings, tmp_path) -> None:
    settings.STORAGE_CACHE_DIR = tmp_path / "machine-b"


def test_a_written_file_is_in_the_bucket_and_another_machine_reads_it_back(settings, emulator, bucket, tmp_path):
    assert is_remote()
    write_file_atomically("outcomes/1/run-1.npz", [b"first ", b"second"])
    assert stored_keys(emulator, bucket) == ["outcomes/1/run-1.npz"]
    become_another_machine(settings, tmp_path)
    assert not private_path("outcomes/1/run-1.npz").exists()
    fetched = fetch_file("outcomes/1/run-1.npz")
    assert fetched.read_bytes() == b"first second"
    assert fetched.is_relative_to(tmp_path / "machine-b")


def test_a_write_that_fails_midway_leaves_nothing_visible(emulator, bucket, tmp_path):
    def chunks():
        yield b"half a file"
        raise OSError("the disk filled up")

    with pytest.raises(OSError, match="disk filled up"):
        write_file_atomically("outcomes/2/run-3.npz", chunks())
    assert stored_keys(emulator, bucket) == []
    assert [path for path in (tmp_path / "machine-a").rglob("*") if path.is_file()] == []


def test_a_cached_copy_that_does_not_match_the_recorded_hash_is_fetched_again(settings, bucket, tmp_path):
    content = b"a model file"
    write_file_atomically("submissions/2026/12/abc/model.pt", [content])
    become_another_machine(settings, tmp_path)
    cached = fetch_file("submissions/2026/12/abc/model.pt")
    cached.write_bytes(b"a damaged copy")
    fetched = fetch_file("submissions/2026/12/abc/model.pt", sha256=hashlib.sha256(content).hexdigest())
    assert fetched.read_bytes() == content


def test_a_stored_object_that_does_not_match_the_recorded_hash_is_refused(emulator, bucket):
    s3_client(emulator).put_object(Bucket=bucket, Key="submissions/x/model.pt", Body=b"replaced")
    with pytest.raises(StorageIntegrityError, match="restore it from a backup"):
        fetch_file("submissions/x/model.pt", sha256=hashlib.sha256(b"original").hexdigest())


def test_private_objects_have_no_url_and_grant_nobody_but_the_owner(emulator, bucket):
    write_file_atomically("benchmarks/digits/test.npz", [b"hidden labels"])
    with pytest.raises(PrivateFilesHaveNoURL):
        private_storage().url("benchmarks/digits/test.npz")
    grants = s3_client(emulator).get_object_acl(Bucket=bucket, Key="benchmarks/digits/test.npz")["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert all(grant["Grantee"].get("Type") == "CanonicalUser" for grant in grants)


def test_a_stored_folder_is_fetched_whole_by_another_machine_and_refetched_when_damaged(
    settings, emulator, bucket, tmp_path
):
    files = {"benchmark.toml": b"slug = 'x'", "test.npz": b"hidden labels", "perturbed/test/blur-1.npy": b"blurred"}
    for name, content in files.items():
        write_file_atomically(f"benchmarks/x/1.0.0/{name}", [content])
    store_folder("benchmarks/x/1.0.0")
    hashes = {name: hashlib.sha256(content).hexdigest() for name, content in files.items() if "/" not in name}
    become_another_machine(settings, tmp_path)
    folder = fetch_folder("benchmarks/x/1.0.0", hashes)
    assert folder.is_relative_to(tmp_path / "machine-b")
    assert {
        path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()
    } == files
    (folder / "test.npz").write_bytes(b"damaged")
    # Readers trust a complete copy; the workers check it before a model sees it.
    assert fetch_folder("benchmarks/x/1.0.0", hashes).joinpath("test.npz").read_bytes() == b"damaged"
    assert fetch_folder("benchmarks/x/1.0.0", hashes, verify=True).joinpath("test.npz").read_bytes() == b"hidden labels"
    s3_client(emulator).put_object(Bucket=bucket, Key="benchmarks/x/1.0.0/test.npz", Body=b"replaced")
    (folder / "test.npz").write_bytes(b"damaged again")
    with pytest.raises(StorageIntegrityError, match=r"benchmarks/x/1\.0\.0"):
        fetch_folder("benchmarks/x/1.0.0", hashes, verify=True)


def test_a_deleted_folder_leaves_the_bucket_and_the_cache(emulator, bucket):
    write_file_atomically("submissions/2026/12/def/model.pt", [b"model"])
    write_file_atomically("submissions/2026/12/def/notes/extra.txt", [b"extra"])
    delete_folder("submissions/2026/12/def")
    assert stored_keys(emulator, bucket) == []
    assert not private_path("submissions/2026/12/def").exists()


def test_the_health_check_reports_a_bucket_it_cannot_reach(client, db, settings, emulator, bucket):
    assert client.get("/healthz").json()["checks"]["storage"]["ok"] is True
    s3_client(emulator).delete_bucket(Bucket=bucket)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "storage" in response.json()["failing"]


def test_an_anonymous_request_cannot_read_a_private_object(emulator, bucket):
    write_file_atomically("outcomes/9/run-9.npz", [b"per-item outcomes"])
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{emulator}/{bucket}/outcomes/9/run-9.npz", timeout=5).close()
    assert refused.value.code in {401, 403}


def test_a_missing_object_is_reported_as_missing(bucket):
    with pytest.raises(FileNotFoundError):
        fetch_file("outcomes/404/run-1.npz")


def load_settings(monkeypatch, tmp_path, **environment: str):
    """A fresh copy of ``touchstone/settings.py`` evaluated under ``environment``."""
    import importlib.util

    from tests.object_storage import storage_environment

    for name in storage_environment("", ""):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOUCHSTONE_DATA_DIR", str(tmp_path / "data"))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("settings_under_test", ROOT / "touchstone" / "settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_settings_refuse_a_bucket_storage_without_a_bucket_and_an_unknown_kind(monkeypatch, tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="TOUCHSTONE_S3_BUCKET"):
        load_settings(monkeypatch, tmp_path, TOUCHSTONE_STORAGE="s3")
    with pytest.raises(ImproperlyConfigured, match=r"local .* or s3"):
        load_settings(monkeypatch, tmp_path, TOUCHSTONE_STORAGE="nfs")
    local = load_settings(monkeypatch, tmp_path)
    assert local.STORAGES["private"]["BACKEND"] == "touchstone.storage_backends.PrivateFileSystemStorage"


def test_local_private_files_have_no_url_either(settings, tmp_path):
    assert not is_remote()
    write_file_atomically("outcomes/1/run-1.npz", [b"outcomes"])
    assert (tmp_path / "private" / "outcomes/1/run-1.npz").read_bytes() == b"outcomes"
    with pytest.raises(PrivateFilesHaveNoURL):
        private_storage().url("outcomes/1/run-1.npz")
