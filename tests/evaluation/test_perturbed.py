"""Tests for ``evaluation.perturbed``: perturbed hidden inputs generated once and checked on load."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from catalog.folder import write_npz
from evaluation.corruptions import Reference, corrupt
from evaluation.errors import EvaluationError, PerturbedInputError
from evaluation.perturbed import Condition, PerturbedSuite, condition_seed, conditions, suite_root
from evaluation.seeds import derive_seed
from evaluation.spec import BenchmarkFolder, load_benchmark

SPEC = """\
slug = "tiny-images"
version = "1.0.0"
title = "Tiny images"
description = "Eight-by-eight images of two kinds."
license = "CC0-1.0"
source = "Made up for the tests"
task = "classification"
classes = ["a", "b"]
changelog = ""

[input]
shape = [1, 8, 8]
dtype = "float32"
range = [0.0, 1.0]

[metrics]
primary = "accuracy"
report = ["accuracy"]

[[perturbations]]
name = "rotation"
severities = [4, 2]
strength = 0.5

[[perturbations]]
name = "fgsm"
eps = [0.1]

[[perturbations]]
name = "blur"
severities = [1]
"""


def split(prefix: str, n_items: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "inputs": rng.random((n_items, 1, 8, 8)).astype(np.float32),
        "labels": (np.arange(n_items) % 2).astype(np.int64),
        "item_ids": np.array([f"{prefix}-{i:03d}" for i in range(n_items)]),
    }


def make_benchmark(folder: Path, spec: str = SPEC) -> BenchmarkFolder:
    folder.mkdir(parents=True)
    (folder / "benchmark.toml").write_text(spec, encoding="utf-8")
    write_npz(folder / "dev.npz", split("dev", 20, 1))
    write_npz(folder / "test.npz", split("test", 30, 2))
    return load_benchmark(folder)


@pytest.fixture
def tiny(tmp_path) -> BenchmarkFolder:
    return make_benchmark(tmp_path / "tiny")


def test_the_suite_is_the_non_adversarial_perturbations_in_declaration_order(tiny):
    expected = [Condition("rotation", 2), Condition("rotation", 4), Condition("blur", 1)]
    assert conditions(tiny.spec) == expected
    assert [condition.key for condition in expected] == ["rotation-2", "rotation-4", "blur-1"]
    assert suite_root(tiny.path) == tiny.path / "perturbed"


def test_the_seed_is_derived_from_the_content_hash_split_name_and_severity(tiny):
    condition = Condition("rotation", 4)
    seed = condition_seed(tiny.content_hash, "test", condition)
    assert seed == derive_seed(tiny.content_hash, "perturbation", "test", "rotation", "4")
    digest = hashlib.sha256("\x1f".join([tiny.content_hash, "perturbation", "test", "rotation", "4"]).encode())
    assert seed == int.from_bytes(digest.digest()[:8], "big") & (2**63 - 1)
    assert seed != condition_seed(tiny.content_hash, "dev", condition)


def test_ensure_stores_each_condition_as_the_corruption_of_the_split_with_its_seed(tiny):
    suite = PerturbedSuite.ensure(suite_root(tiny.path), tiny, "test")
    assert suite.conditions == conditions(tiny.spec)
    manifest = json.loads((suite_root(tiny.path) / "test" / "manifest.json").read_text())
    assert manifest["content_hash"] == tiny.content_hash and manifest["split"] == "test"
    assert set(manifest["files"]) == {"rotation-2", "rotation-4", "blur-1"}

    hidden = tiny.load_split("test").inputs
    reference = Reference.from_dev(tiny.spec, tiny.load_split("dev").inputs)
    for condition, strength in (
        (Condition("rotation", 2), 0.5),
        (Condition("rotation", 4), 0.5),
        (Condition("blur", 1), 1.0),
    ):
        entry = manifest["files"][condition.key]
        path = suite_root(tiny.path) / "test" / entry["file"]
        assert entry["file"] == f"{condition.key}.npy"
        assert entry["seed"] == condition_seed(tiny.content_hash, "test", condition)
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        rng = np.random.default_rng(entry["seed"])
        expected = corrupt(condition.name, hidden, condition.severity, rng, reference=reference, strength=strength)
        stored = suite.load(condition)
        assert stored.dtype == np.float32 and stored.shape == hidden.shape
        np.testing.assert_array_equal(stored, expected)


def test_ensure_twice_regenerates_nothing_and_another_folder_gets_identical_bytes(tiny, tmp_path):
    root = suite_root(tiny.path)
    PerturbedSuite.ensure(root, tiny, "test")
    files = sorted((root / "test").iterdir())
    before = {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in files}
    PerturbedSuite.ensure(root, tiny, "test")
    after = {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in sorted((root / "test").iterdir())}
    assert after == before

    other = tmp_path / "elsewhere"
    PerturbedSuite.ensure(other, tiny, "test")
    for name in ("rotation-2.npy", "rotation-4.npy", "blur-1.npy", "manifest.json"):
        assert (other / "test" / name).read_bytes() == (root / "test" / name).read_bytes()


def test_ensure_generates_only_what_the_manifest_lacks(tiny):
    root = suite_root(tiny.path)
    PerturbedSuite.ensure(root, tiny, "test")
    manifest_path = root / "test" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"]["blur-1"]
    manifest_path.write_text(json.dumps(manifest))
    (root / "test" / "blur-1.npy").unlink()
    kept = (root / "test" / "rotation-2.npy").stat().st_mtime_ns
    suite = PerturbedSuite.ensure(root, tiny, "test")
    assert (root / "test" / "rotation-2.npy").stat().st_mtime_ns == kept
    assert suite.load(Condition("blur", 1)).shape == (30, 1, 8, 8)


def test_a_tampered_stored_file_is_refused_naming_it_and_the_remedy(tiny):
    root = suite_root(tiny.path)
    suite = PerturbedSuite.ensure(root, tiny, "test")
    path = root / "test" / "rotation-4.npy"
    array = np.load(path)
    array[0, 0, 0, 0] = 1.0 - array[0, 0, 0, 0]
    np.save(path, array)
    with pytest.raises(PerturbedInputError) as caught:
        suite.load(Condition("rotation", 4))
    assert str(path) in str(caught.value) and "sha256" in str(caught.value)
    assert f"delete the folder {root / 'test'}" in str(caught.value)
    # A later ensure does not paper over it either: the file is still refused on load.
    with pytest.raises(PerturbedInputError):
        PerturbedSuite.ensure(root, tiny, "test").load(Condition("rotation", 4))
    assert not issubclass(PerturbedInputError, EvaluationError)


def test_a_missing_stored_file_or_condition_is_refused(tiny):
    root = suite_root(tiny.path)
    suite = PerturbedSuite.ensure(root, tiny, "test")
    (root / "test" / "blur-1.npy").unlink()
    with pytest.raises(PerturbedInputError, match=r"blur-1\.npy: missing .* delete the folder"):
        suite.load(Condition("blur", 1))
    with pytest.raises(PerturbedInputError, match="no entry for 'rotation-1'"):
        suite.load(Condition("rotation", 1))


def test_a_manifest_of_another_version_is_an_error_never_reused(tiny, tmp_path):
    root = tmp_path / "shared"
    PerturbedSuite.ensure(root, tiny, "test")
    changed = make_benchmark(tmp_path / "changed", SPEC.replace("strength = 0.5", "strength = 0.6"))
    assert changed.content_hash != tiny.content_hash
    with pytest.raises(PerturbedInputError, match=f"content hash {tiny.content_hash[:12]}"):
        PerturbedSuite.ensure(root, changed, "test")
    manifest = root / "test" / "manifest.json"
    manifest.write_text("{not json")
    with pytest.raises(PerturbedInputError, match="not valid JSON"):
        PerturbedSuite.ensure(root, tiny, "test")


def test_two_workers_racing_produce_one_consistent_suite(tiny):
    root = suite_root(tiny.path)
    suites: list[PerturbedSuite] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            suites.append(PerturbedSuite.ensure(root, tiny, "test"))
        except BaseException as error:  # Reported by the assertion below.
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors and len(suites) == 3
    manifest = json.loads((root / "test" / "manifest.json").read_text())
    assert set(manifest["files"]) == {"rotation-2", "rotation-4", "blur-1"}
    for suite in suites:
        for condition in suite.conditions:
            suite.load(condition)
    assert not [path.name for path in (root / "test").iterdir() if path.name.endswith(".tmp")]


def test_the_dev_split_gets_its_own_folder_and_seeds(tiny):
    root = suite_root(tiny.path)
    dev = PerturbedSuite.ensure(root, tiny, "dev")
    test = PerturbedSuite.ensure(root, tiny, "test")
    assert dev.load(Condition("blur", 1)).shape == (20, 1, 8, 8)
    manifests = [json.loads((root / name / "manifest.json").read_text()) for name in ("dev", "test")]
    assert manifests[0]["files"]["rotation-2"]["seed"] != manifests[1]["files"]["rotation-2"]["seed"]
    assert test.split == "test" and dev.split == "dev"


def test_covariate_shift_uses_the_features_the_spec_chooses(tmp_path):
    spec = SPEC.split("[[perturbations]]")[0].replace("shape = [1, 8, 8]", "shape = [64]")
    spec += '[[perturbations]]\nname = "covariate_shift"\nseverities = [3]\nfeatures = [2, 5]\n'
    folder = tmp_path / "tabular"
    folder.mkdir()
    (folder / "benchmark.toml").write_text(spec, encoding="utf-8")
    for name, seed, n in (("dev", 1, 20), ("test", 2, 30)):
        arrays = split(name, n, seed)
        arrays["inputs"] = arrays["inputs"].reshape(n, 64) * 0.5
        write_npz(folder / f"{name}.npz", arrays)
    tiny = load_benchmark(folder)
    stored = PerturbedSuite.ensure(suite_root(folder), tiny, "test").load(Condition("covariate_shift", 3))
    moved = stored - tiny.load_split("test").inputs
    spread = tiny.load_split("dev").inputs.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(moved[:, [2, 5]], np.broadcast_to(0.75 * spread[[2, 5]], (30, 2)), atol=1e-6)
    assert not np.delete(moved, [2, 5], axis=1).any()
