"""The public diff of a version from the one before it: dev items one by one, hidden ones as counts."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from evaluation.spec import load_benchmark
from evaluation.version_diff import npz_bytes
from touchstone.benchmarks.services import publish_benchmark

from .lifecycle_fixture import first_unrevealed, next_folder


def relabel_dev_item(folder, index: int) -> str:
    dev = load_benchmark(folder).load_split("dev")
    arrays = {"inputs": dev.inputs, "labels": dev.labels.copy(), "item_ids": dev.item_ids, **dev.metadata}
    arrays["labels"][index] = (arrays["labels"][index] + 1) % 10
    (folder / "dev.npz").write_bytes(npz_bytes(arrays))
    return str(dev.item_ids[index])


def test_the_diff_lists_dev_changes_by_item_and_hidden_ones_only_as_counts(version, digits_folder, tmp_path):
    hidden_item = first_unrevealed(version)
    folder = next_folder(digits_folder, tmp_path / "next", changelog="Fixed two labels.", relabel=hidden_item)
    dev_item = relabel_dev_item(folder, 7)
    newer = publish_benchmark(folder=folder)
    client = Client()

    diff = client.get(reverse("api:version-diff", args=["digits", "1.1.0"])).json()
    assert (diff["previous"], diff["version"], diff["changelog"]) == ("1.0.0", "1.1.0", "Fixed two labels.")
    assert {"path": "version", "old": "1.0.0", "new": "1.1.0"} in diff["spec_changes"]
    assert [change["item_id"] for change in diff["dev"]["relabelled"]] == [dev_item]
    assert diff["dev"]["added"] == [] and diff["dev"]["removed"] == []
    assert diff["hidden"] == {
        "added": 0,
        "removed": 0,
        "relabelled": 1,
        "inputs_changed": 0,
        "moved_to_dev": 0,
        "exposed_moved_to_dev": 0,
        "exposed_kept_hidden": 0,
        "n_items": newer.n_test_items,
    }
    assert diff["file_hashes"]["test.npz"]["old"] != diff["file_hashes"]["test.npz"]["new"]

    page = client.get(reverse("front:version", args=["digits", "1.1.0"])).content.decode()
    assert 'id="version-diff"' in page and dev_item in page and "Fixed two labels." in page
    # The relabelled hidden item is named nowhere a visitor can look.
    assert hidden_item not in page and hidden_item not in str(diff)


def test_a_first_version_has_no_diff(version):
    client = Client()
    response = client.get(reverse("api:version-diff", args=["digits", "1.0.0"]))
    assert response.status_code == 404 and "first version" in response.json()["detail"]
    assert 'id="version-diff"' not in client.get(reverse("front:version", args=["digits", "1.0.0"])).content.decode()
