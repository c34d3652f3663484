"""``touchstone fetch`` keeps each version in its own folder and never overwrites another's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.client import ClientError, TouchstoneClient
from evaluation.fetching import fetch_version, version_folder
from evaluation.spec import load_benchmark
from tests.evaluation.fake_site import ABOUT, Route, fake_site, json_route

BASE = "/api/v1/benchmarks/digits/versions"


def published(folder: Path, version: str) -> dict[str, Route]:
    """The routes a site serves for ``folder`` published as ``version`` (its spec says 1.0.0)."""
    benchmark = load_benchmark(folder)
    detail = {"content_hash": benchmark.content_hash, "file_hashes": dict(benchmark.file_hashes)}
    return {
        "/api/v1/about/": json_route(ABOUT),
        f"{BASE}/{version}/": json_route(detail),
        f"{BASE}/{version}/spec": Route((folder / "benchmark.toml").read_bytes(), "application/toml"),
        f"{BASE}/{version}/dev-split": Route((folder / "dev.npz").read_bytes(), "application/octet-stream"),
    }


def test_a_version_goes_into_its_own_folder_and_is_verified(digits_folder, tmp_path):
    with fake_site(published(digits_folder, "1.0.0")) as site:
        fetched = fetch_version(TouchstoneClient(site.url), "digits", "1.0.0", tmp_path)
    assert fetched.folder == tmp_path / "digits" / "1.0.0"
    assert sorted(p.name for p in fetched.folder.iterdir()) == ["benchmark.toml", "dev.npz", "version.json"]
    assert fetched.dataset.content_hash == load_benchmark(digits_folder).content_hash
    assert not fetched.already_there
    # No partial folder is left beside it.
    assert [p.name for p in (tmp_path / "digits").iterdir()] == ["1.0.0"]


def test_fetching_the_same_version_again_verifies_it_and_downloads_nothing(digits_folder, tmp_path):
    with fake_site(published(digits_folder, "1.0.0")) as site:
        client = TouchstoneClient(site.url)
        fetch_version(client, "digits", "1.0.0", tmp_path)
        before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "digits" / "1.0.0").iterdir()}
        again = fetch_version(client, "digits", "1.0.0", tmp_path)
    assert again.already_there
    assert site.count(f"{BASE}/1.0.0/dev-split") == 1
    assert {p.name: p.stat().st_mtime_ns for p in again.folder.iterdir()} == before


def test_two_versions_sit_side_by_side(digits_folder, tmp_path):
    routes = {**published(digits_folder, "1.0.0"), **published(digits_folder, "1.1.0")}
    with fake_site(routes) as site:
        client = TouchstoneClient(site.url)
        first = fetch_version(client, "digits", "1.0.0", tmp_path)
        before = {p.name: p.stat().st_mtime_ns for p in first.folder.iterdir()}
        second = fetch_version(client, "digits", "1.1.0", tmp_path)
    assert second.folder == tmp_path / "digits" / "1.1.0" and not second.already_there
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["1.0.0", "1.1.0"]
    assert {p.name: p.stat().st_mtime_ns for p in first.folder.iterdir()} == before


def test_files_that_do_not_match_the_published_hashes_are_not_kept(digits_folder, tmp_path):
    routes = published(digits_folder, "1.0.0")
    detail = json.loads(routes[f"{BASE}/1.0.0/"].body)
    detail["file_hashes"]["dev.npz"] = "0" * 64
    routes[f"{BASE}/1.0.0/"] = json_route(detail)
    with fake_site(routes) as site:
        client = TouchstoneClient(site.url)
        with pytest.raises(ClientError, match="do not match its published hashes"):
            fetch_version(client, "digits", "1.0.0", tmp_path)
    assert list((tmp_path / "digits").iterdir()) == []


def test_it_refuses_to_overwrite_a_folder_holding_another_version(digits_folder, tmp_path):
    with fake_site(published(digits_folder, "1.0.0")) as site:
        client = TouchstoneClient(site.url)
        fetched = fetch_version(client, "digits", "1.0.0", tmp_path)
        # The site now publishes other content under the same folder's name.
        identity = json.loads((fetched.folder / "version.json").read_text())
        identity["content_hash"] = "f" * 64
        (fetched.folder / "version.json").write_text(json.dumps(identity))
        before = (fetched.folder / "dev.npz").read_bytes()
        with pytest.raises(ClientError, match=r"not the published digits 1\.0\.0.*nothing was changed"):
            fetch_version(client, "digits", "1.0.0", tmp_path)
    assert (fetched.folder / "dev.npz").read_bytes() == before
    assert site.count(f"{BASE}/1.0.0/dev-split") == 1


def test_it_refuses_a_folder_whose_files_were_changed(digits_folder, tmp_path):
    with fake_site(published(digits_folder, "1.0.0")) as site:
        client = TouchstoneClient(site.url)
        fetched = fetch_version(client, "digits", "1.0.0", tmp_path)
        (fetched.folder / "benchmark.toml").write_text("# edited\n")
        with pytest.raises(ClientError, match="no longer match the published hashes"):
            fetch_version(client, "digits", "1.0.0", tmp_path)
    assert (fetched.folder / "benchmark.toml").read_text() == "# edited\n"


def test_it_refuses_a_folder_it_did_not_write(digits_folder, tmp_path):
    (tmp_path / "digits" / "1.0.0").mkdir(parents=True)
    (tmp_path / "digits" / "1.0.0" / "notes.txt").write_text("mine")
    with fake_site(published(digits_folder, "1.0.0")) as site:
        with pytest.raises(ClientError, match=r"holds no version\.json"):
            fetch_version(TouchstoneClient(site.url), "digits", "1.0.0", tmp_path)
    assert (tmp_path / "digits" / "1.0.0" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(("slug", "version"), [("..", "1.0.0"), ("digits", "../../etc"), ("digits", "a/b")])
def test_names_that_would_leave_the_folder_are_refused(tmp_path, slug, version):
    with pytest.raises(ClientError, match="is not a"):
        version_folder(tmp_path, slug, version)
