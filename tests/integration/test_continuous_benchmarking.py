"""A maintainer publishes a second version through the draft page; a real worker then re-scores
every entry and pinned baseline of the first one, with no manual step."""

from __future__ import annotations

import io
import re
import tarfile
import time

import pytest
import requests

from evaluation.client import TouchstoneClient
from evaluation.spec import load_benchmark
from tests.integration.test_worker_end_to_end import wait_for_leaderboard
from tests.models import centroid_model
from tests.services import running_site
from tests.touchstone.lifecycle_fixture import next_folder

pytestmark = pytest.mark.services

PASSWORD = "a-long-password-2"


def packed(folder) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("benchmark.toml", "dev.npz", "test.npz"):
            archive.add(folder / name, arcname=f"digits-next/{name}")
    return buffer.getvalue()


def logged_in(url: str, username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{url}/accounts/login/", timeout=10)
    response = session.post(
        f"{url}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        timeout=10,
    )
    assert response.ok and "sessionid" in session.cookies, response.text[:2000]
    return session


def test_publishing_through_the_draft_page_re_scores_every_entry_and_pinned_baseline(
    service_folder, digits_folder, model_files, tmp_path
):
    dev = load_benchmark(digits_folder).load_split("dev")
    pinned_file = centroid_model(dev.inputs, dev.labels, 10, tmp_path / "pinned.pt", noise=0.5, seed=5)
    with running_site(service_folder / "continuous", benchmarks=[digits_folder]) as site:
        site.manage("add_baselines", "digits", "1.0.0", "--pin", str(pinned_file), "--name", "Pinned centroid")
        ada = TouchstoneClient(site.url, site.create_researcher("ada"))
        grace = TouchstoneClient(site.url, site.create_researcher("grace"))
        strong = ada.submit(benchmark="digits", version="1.0.0", model_file=model_files["strong"], model_name="Strong")
        weak = grace.submit(benchmark="digits", version="1.0.0", model_file=model_files["weak"], model_name="Weak")
        for created, client in ((strong, ada), (weak, grace)):
            assert client.wait(created["id"], poll_seconds=0.2, timeout=180)["status"] == "scored"
        old_board = wait_for_leaderboard(ada, "benchmarks/digits/versions/1.0.0/leaderboard/", 3, timeout=180)
        old_entries = {entry["submission"] for entry in old_board["entries"]}

        # A maintainer who is not staff uploads the changed folder, reads the review and publishes.
        site.manage(
            "shell",
            "-c",
            f"from django.contrib.auth.models import User; User.objects.create_user('mia', '', '{PASSWORD}')",
        )
        site.manage("maintainers", "digits", "--add", "mia")
        relabelled = str(load_benchmark(digits_folder).load_split("test").item_ids[0])
        folder = next_folder(digits_folder, tmp_path / "next", changelog="Relabelled one item.", relabel=relabelled)
        mia = logged_in(site.url, "mia")
        created = mia.post(
            f"{site.url}/benchmarks/digits/drafts/new/",
            data={"csrfmiddlewaretoken": mia.cookies["csrftoken"]},
            files={"folder": ("digits-next.tar.gz", packed(folder), "application/gzip")},
            timeout=60,
        )
        assert created.url.endswith("/benchmarks/digits/1.1.0/review/"), created.text[:3000]
        review = created.text
        assert relabelled in review and "Relabelled one item." in review and "Every check passed." in review
        listed = re.search(r'<table id="review-reevaluated">(.*?)</table>', review, re.S)
        assert listed is not None and {f"#{pk}" for pk in old_entries} <= set(re.findall(r"#\d+", listed.group(1)))
        assert "pinned baseline" in listed.group(1)
        published = mia.post(
            f"{site.url}/benchmarks/digits/1.1.0/publish/",
            data={"csrfmiddlewaretoken": mia.cookies["csrftoken"]},
            timeout=60,
        )
        assert published.url.endswith("/benchmarks/digits/1.1.0/"), published.text[:3000]

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            changes = ada._request("GET", "benchmarks/digits/versions/1.1.0/changes/")
            if changes["complete"] and len(changes["entries"]) == 3:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the re-evaluations did not finish: {changes}\n{site.log('worker')[-3000:]}")
        origins = {entry["reevaluation_of"] for entry in changes["entries"]}
        assert origins == old_entries
        ranks = {entry["reevaluation_of"]: (entry["old_rank"], entry["new_rank"]) for entry in changes["entries"]}
        assert ranks[strong["id"]][0] == 1
        assert -1.0 <= changes["tau"]["value"] <= 1.0
        board = wait_for_leaderboard(ada, "benchmarks/digits/versions/1.1.0/leaderboard/", 3)
        copies = [ada._request("GET", f"submissions/{entry['submission']}/") for entry in board["entries"]]
        assert [copy["origin"] for copy in copies] == ["reevaluation"] * 3
        by_origin = {copy["reevaluation"]["of"]: copy for copy in copies}
        assert set(by_origin) == old_entries
        assert by_origin[strong["id"]]["sha256"] == strong["sha256"] and by_origin[strong["id"]]["team"] == "ada"
