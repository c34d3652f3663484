"""The "new draft" page: archives it accepts and refuses, and what it records."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.benchmarks.services import create_draft, publish_draft
from touchstone.front.draft_upload import ArchiveRejected, unpack_folder
from touchstone.rankings.lifecycle import freeze

from .lifecycle_fixture import hidden_ids, next_folder


def tar_gz(members: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return SimpleUploadedFile("folder.tar.gz", buffer.getvalue())


def folder_members(folder, prefix: str = "next/") -> dict[str, bytes]:
    return {f"{prefix}{name}": (folder / name).read_bytes() for name in ("benchmark.toml", "dev.npz", "test.npz")}


@pytest.fixture
def maintainer_client(version):
    user = get_user_model().objects.create_user("mia", "mia@example.org", "a-long-password-2")
    version.benchmark.maintainers.add(user)
    client = Client()
    client.force_login(user)
    return client


def test_a_tar_gz_upload_with_keep_exposed_hidden_records_the_choice(
    version, maintainer_client, digits_folder, tmp_path, settings
):
    settings.MIN_PART_ITEMS = 50
    freeze(version=version)
    folder = next_folder(digits_folder, tmp_path / "next")
    response = maintainer_client.post(
        reverse("front:new-draft", args=["digits"]),
        {"folder": tar_gz(folder_members(folder)), "keep_exposed_hidden": "on"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("front:review", args=["digits", "1.1.0"])
    draft = BenchmarkVersion.objects.get(version="1.1.0")
    assert draft.status == "draft" and draft.created_by.username == "mia"
    assert draft.review["kept_hidden"] and not draft.review["moved_to_dev"]
    assert set(draft.review["kept_hidden"]) <= hidden_ids(draft)
    page = maintainer_client.get(response["Location"]).content.decode()
    assert 'id="review-kept-hidden"' in page


def test_a_folder_of_another_benchmark_is_refused_on_this_benchmarks_page(
    version, maintainer_client, digits_folder, tmp_path
):
    folder = next_folder(digits_folder, tmp_path / "next")
    spec = (folder / "benchmark.toml").read_text(encoding="utf-8")
    (folder / "benchmark.toml").write_text(spec.replace('slug = "digits"', 'slug = "digits-two"'), encoding="utf-8")
    response = maintainer_client.post(
        reverse("front:new-draft", args=["digits"]), {"folder": tar_gz(folder_members(folder))}
    )
    assert response.status_code == 200
    assert "a draft of digits needs slug = &#x27;digits&#x27;" in response.content.decode()
    assert BenchmarkVersion.objects.count() == 1


def test_a_failed_review_is_shown_on_the_new_draft_page_and_nothing_is_stored(
    version, maintainer_client, digits_folder, tmp_path
):
    folder = next_folder(digits_folder, tmp_path / "next", changelog="")
    response = maintainer_client.post(
        reverse("front:new-draft", args=["digits"]), {"folder": tar_gz(folder_members(folder))}
    )
    page = response.content.decode()
    assert response.status_code == 200 and "The draft was not stored" in page
    assert 'id="review-problems"' in page and "empty changelog" in page
    assert BenchmarkVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../benchmark.toml": b"x"}, "a path outside the folder"),
        ({"/etc/benchmark.toml": b"x"}, "a path outside the folder"),
        ({"a/benchmark.toml": b"x", "b/benchmark.toml": b"y"}, "holds benchmark.toml twice"),
        ({"benchmark.toml": b"x"}, "the archive has no dev.npz, test.npz"),
    ],
)
def test_unpacking_refuses_escaping_duplicate_and_missing_members(tmp_path, members, message):
    with pytest.raises(ArchiveRejected, match=message):
        unpack_folder(tar_gz(members), tmp_path / "out")
    assert not (tmp_path / "benchmark.toml").exists()


def test_unpacking_refuses_links_and_oversized_archives(tmp_path, settings):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        link = tarfile.TarInfo("benchmark.toml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    with pytest.raises(ArchiveRejected, match="not a regular file"):
        unpack_folder(SimpleUploadedFile("x.tar.gz", buffer.getvalue()), tmp_path / "link")
    settings.MAX_DRAFT_BYTES = 10
    with pytest.raises(ArchiveRejected, match="more than"):
        unpack_folder(tar_gz({"dev.npz": b"0123456789ab"}), tmp_path / "big")
    with pytest.raises(ArchiveRejected, match=r"\.zip or \.tar\.gz"):
        unpack_folder(SimpleUploadedFile("x.rar", b"Rar!...."), tmp_path / "rar")


def test_unpacking_a_zip_takes_the_three_files_from_one_folder(tmp_path, digits_folder):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("benchmark.toml", "dev.npz", "test.npz"):
            archive.write(digits_folder / name, f"digits/{name}")
        archive.writestr("digits/README.md", "ignored")
    out = unpack_folder(SimpleUploadedFile("d.zip", buffer.getvalue()), tmp_path / "out")
    assert sorted(path.name for path in out.iterdir()) == ["benchmark.toml", "dev.npz", "test.npz"]
    assert (out / "test.npz").read_bytes() == (digits_folder / "test.npz").read_bytes()


def test_a_benchmark_whose_only_version_is_a_draft_is_listed_nowhere(db, digits_folder):
    draft = create_draft(folder=digits_folder)
    client = Client()

    def listed() -> tuple[bool, bool, int]:
        return (
            "Handwritten digits" in client.get(reverse("front:home")).content.decode(),
            "digits" in str(client.get(reverse("api:benchmarks")).json()),
            client.get(reverse("front:benchmark", args=["digits"])).status_code,
        )

    assert listed() == (False, False, 404)
    publish_draft(version=draft)
    assert listed() == (True, True, 200)
