"""The diff between two benchmark folders, part sizes and the hidden items earlier versions exposed."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.errors import SpecError
from evaluation.spec import load_benchmark
from evaluation.version_diff import (
    diff_versions,
    exposed_items,
    move_to_dev,
    part_sizes,
    revealed_item_ids,
    size_problems,
    spec_changes,
)
from tests.evaluation.test_spec import VALID_TOML, make_folder, split_arrays


def arrays(prefix: str, n_items: int) -> dict[str, np.ndarray]:
    return split_arrays(prefix, n_items)


def take(split: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    return {name: column[keep] for name, column in split.items()}


def join(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([first[name], second[name]]) for name in first}


@pytest.fixture
def old(tmp_path):
    return load_benchmark(make_folder(tmp_path / "old", dev=arrays("dev", 12), test=arrays("test", 18)))


def test_spec_changes_list_each_key_path_with_old_and_new_values():
    changes = spec_changes(
        {"title": "A", "metrics": {"primary": "accuracy", "report": ["accuracy"]}, "gone": 1},
        {"title": "A", "metrics": {"primary": "nll", "report": ["accuracy", "nll"]}, "new": True},
    )
    assert [(c.path, c.old, c.new) for c in changes] == [
        ("gone", 1, None),
        ("metrics.primary", "accuracy", "nll"),
        ("metrics.report", ["accuracy"], ["accuracy", "nll"]),
        ("new", None, True),
    ]


def test_the_diff_names_items_added_removed_relabelled_and_changed_by_item_id(tmp_path, old):
    test = arrays("test", 18)
    test = take(test, np.arange(18) != 4)  # test-004 removed
    test["labels"][0] = (test["labels"][0] + 1) % 3  # test-000 relabelled a -> b
    test["inputs"][1] = 1.0 - test["inputs"][1]  # test-001 gets other inputs
    test = join(test, take(arrays("new", 2), np.array([True, False])))  # new-000 added
    toml = VALID_TOML.replace('version = "1.0.0"', 'version = "1.1.0"').replace("First version.", "Fixed a label.")
    new = load_benchmark(make_folder(tmp_path / "new", toml=toml, dev=arrays("dev", 12), test=test))
    diff = diff_versions(old, new)
    assert diff.splits["test"].added == ("new-000",)
    assert diff.splits["test"].removed == ("test-004",)
    assert [(r.item_id, r.old, r.new) for r in diff.splits["test"].relabelled] == [("test-000", "a", "b")]
    assert diff.splits["test"].inputs_changed == ("test-001",)
    assert diff.splits["dev"].unchanged
    assert [(c.path, c.old, c.new) for c in diff.spec_changes] == [
        ("changelog", "First version.", "Fixed a label."),
        ("version", "1.0.0", "1.1.0"),
    ]
    assert diff.file_hashes["dev.npz"][0] == diff.file_hashes["dev.npz"][1]
    assert diff.file_hashes["test.npz"][0] != diff.file_hashes["test.npz"][1]
    assert diff.as_dict()["splits"]["test"]["relabelled"] == [{"item_id": "test-000", "old": "a", "new": "b"}]


def test_labels_are_compared_by_class_name_so_reordering_classes_relabels_nothing(tmp_path, old):
    toml = VALID_TOML.replace('classes = ["a", "b", "c"]', 'classes = ["c", "b", "a"]')
    reorder = np.array([2, 1, 0])
    dev, test = arrays("dev", 12), arrays("test", 18)
    dev["labels"], test["labels"] = reorder[dev["labels"]], reorder[test["labels"]]
    new = load_benchmark(make_folder(tmp_path / "new", toml=toml, dev=dev, test=test))
    diff = diff_versions(old, new)
    assert diff.splits["test"].unchanged and diff.splits["dev"].unchanged
    assert [c.path for c in diff.spec_changes] == ["classes"]


def test_items_that_moved_between_the_splits_are_listed_as_moved_not_added(tmp_path, old):
    dev, test = arrays("dev", 12), arrays("test", 18)
    moving = np.arange(18) < 3
    new = load_benchmark(make_folder(tmp_path / "new", dev=join(dev, take(test, moving)), test=take(test, ~moving)))
    diff = diff_versions(old, new)
    assert diff.test_to_dev == ("test-000", "test-001", "test-002")
    assert diff.dev_to_test == ()
    assert diff.splits["dev"].added == () and diff.splits["test"].removed == ()


def test_part_sizes_follow_the_hidden_parts_and_fail_below_the_minimum(old):
    sizes = part_sizes(old)
    assert sizes["dev"] == 12
    assert sizes["feedback"] + sizes["final"] == 18
    # Clusters of two items go whole to one part, so the feedback part is about a quarter.
    assert 4 <= sizes["feedback"] <= 6
    assert size_problems(sizes, minimum=4) == []
    problems = size_problems(sizes, minimum=sizes["feedback"] + 1)
    assert problems == [
        f"the feedback part holds {sizes['feedback']} items, fewer than the minimum of {sizes['feedback'] + 1}; "
        "add items to it (or lower TOUCHSTONE_MIN_PART_ITEMS for a site that accepts small benchmarks)"
    ]


def test_a_frozen_version_reveals_exactly_its_final_part(old):
    revealed = revealed_item_ids(old)
    sizes = part_sizes(old)
    assert len(revealed) == sizes["final"]
    assert revealed <= {str(item) for item in old.load_split("test").item_ids}


def test_hidden_items_are_exposed_by_a_frozen_final_part_or_an_earlier_dev_split_only(tmp_path, old):
    dev, test = arrays("dev", 12), arrays("test", 18)
    # The new version hides two items that were public in the old dev split.
    new_test = join(test, take(dev, np.arange(12) < 2))
    new = load_benchmark(make_folder(tmp_path / "new", dev=take(dev, np.arange(12) >= 2), test=new_test))
    final = revealed_item_ids(old)
    open_exposed = exposed_items(new, {"tiny-images 1.0.0": old}, frozen=())
    assert set(open_exposed) == {"dev-000", "dev-001"}
    frozen_exposed = exposed_items(new, {"tiny-images 1.0.0": old}, frozen={"tiny-images 1.0.0"})
    assert set(frozen_exposed) == final | {"dev-000", "dev-001"}
    assert frozen_exposed[sorted(final)[0]] == ["results published when tiny-images 1.0.0 was frozen"]
    # The feedback part stays behind the Ladder: none of its items is exposed.
    feedback = {str(item) for item in test["item_ids"]} - final
    assert feedback and not feedback & set(frozen_exposed)


def test_moving_exposed_items_to_dev_writes_a_valid_folder_with_a_new_content_hash(tmp_path, old):
    moved_ids = sorted(revealed_item_ids(old))[:3]
    first = move_to_dev(old, moved_ids, tmp_path / "moved")
    again = move_to_dev(old, moved_ids, tmp_path / "again")
    assert first.content_hash == again.content_hash != old.content_hash
    dev_ids = {str(item) for item in first.load_split("dev").item_ids}
    test_ids = {str(item) for item in first.load_split("test").item_ids}
    assert set(moved_ids) <= dev_ids and not set(moved_ids) & test_ids
    assert len(test_ids) == 18 - 3
    moved_dev = first.load_split("dev")
    index = list(moved_dev.item_ids).index(moved_ids[0])
    original = old.load_split("test")
    source = list(original.item_ids).index(moved_ids[0])
    assert moved_dev.labels[index] == original.labels[source]
    assert np.array_equal(moved_dev.inputs[index], original.inputs[source])
    assert moved_dev.metadata["ink"][index] == original.metadata["ink"][source]


def test_moving_every_hidden_item_is_refused(tmp_path, old):
    every = [str(item) for item in old.load_split("test").item_ids]
    with pytest.raises(SpecError, match="no hidden split"):
        move_to_dev(old, every, tmp_path / "moved")
    assert not (tmp_path / "moved").exists()
