"""Publishing a second version re-scores the first one's entries with a real worker, no manual step."""

from __future__ import annotations

import time

import pytest

from evaluation.client import TouchstoneClient
from tests.integration.test_worker_end_to_end import wait_for_leaderboard
from tests.services import running_site
from tests.touchstone.reevaluation_fixture import changed_folder

pytestmark = pytest.mark.services


def test_a_published_version_re_scores_every_entry_of_the_previous_one(
    service_folder, digits_folder, model_files, tmp_path
):
    with running_site(service_folder / "continuous", benchmarks=[digits_folder]) as site:
        ada = TouchstoneClient(site.url, site.create_researcher("ada"))
        grace = TouchstoneClient(site.url, site.create_researcher("grace"))
        strong = ada.submit(benchmark="digits", version="1.0.0", model_file=model_files["strong"], model_name="Strong")
        weak = grace.submit(benchmark="digits", version="1.0.0", model_file=model_files["weak"], model_name="Weak")
        for created, client in ((strong, ada), (weak, grace)):
            assert client.wait(created["id"], poll_seconds=0.2, timeout=180)["status"] == "scored"
        wait_for_leaderboard(ada, "benchmarks/digits/versions/1.0.0/leaderboard/", 2)

        site.manage("publish_benchmark", str(changed_folder(digits_folder, tmp_path / "digits")))

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            changes = ada._request("GET", "benchmarks/digits/versions/1.1.0/changes/")
            if changes["complete"] and len(changes["entries"]) == 2:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the re-evaluations did not finish: {changes}\n{site.log('worker')[-3000:]}")
        ranks = {entry["reevaluation_of"]: (entry["old_rank"], entry["new_rank"]) for entry in changes["entries"]}
        assert ranks == {strong["id"]: (1, 1), weak["id"]: (2, 2)}
        assert changes["tau"]["value"] == 1.0 and changes["flipped"] == []
        board = wait_for_leaderboard(ada, "benchmarks/digits/versions/1.1.0/leaderboard/", 2)
        copy = ada._request("GET", f"submissions/{board['entries'][0]['submission']}/")
        assert copy["origin"] == "reevaluation" and copy["reevaluation"]["of"] == strong["id"]
        assert copy["sha256"] == strong["sha256"] and copy["team"] == "ada"
