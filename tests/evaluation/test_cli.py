"""``python -m evaluation evaluate``: the same scoring the server does, on a local folder."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluation.spec import load_benchmark
from tests.models import centroid_model
from tests.security.models import build_malformed_model

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evaluation", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def centroid_file(digits_folder, tmp_path_factory) -> Path:
    dev = load_benchmark(digits_folder).load_split("dev")
    return centroid_model(dev.inputs, dev.labels, 10, tmp_path_factory.mktemp("cli") / "centroid.pt")


def validation_mask(folder: Path) -> np.ndarray:
    """The dev split's validation part by the rule the README states, written out with hashlib:
    the round(f * n) items with the smallest keys sha256(seed, id), seed = sha256(hash, step)."""
    benchmark = load_benchmark(folder)
    ids = [str(item) for item in benchmark.load_split("dev").item_ids]

    def key(*parts: str) -> int:
        digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
        return int.from_bytes(digest[:8], "big") & (2**63 - 1)

    seed = key(benchmark.content_hash, "validation-split")
    chosen = sorted(ids, key=lambda item: (key(str(seed), item), item))[: int(0.2 * len(ids) + 0.5)]
    return np.isin(np.array(ids), chosen)


def test_it_scores_a_model_on_the_validation_part_of_the_dev_split_and_prints_json(digits_folder, centroid_file):
    completed = run_cli("evaluate", "--benchmark", str(digits_folder), "--model", str(centroid_file), "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    dev = load_benchmark(digits_folder).load_split("dev")
    flat = dev.inputs.reshape(len(dev.inputs), -1)
    centroids = np.stack([flat[dev.labels == c].mean(axis=0) for c in range(10)])
    held_out = validation_mask(digits_folder)
    correct = ((flat[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1) == dev.labels
    expected = np.mean(correct[held_out])
    assert report["part"] == "validation"
    assert report["part_items"] == held_out.sum() == round(0.2 * len(dev.labels))
    assert report["warning"] is None
    accuracy = report["metrics"]["accuracy"]
    assert accuracy["value"] == pytest.approx(expected, abs=1e-9)
    assert accuracy["ci_low"] < accuracy["value"] < accuracy["ci_high"]
    assert report["provenance"]["benchmark"]["split"] == "dev"
    assert "[" in completed.stderr  # progress lines


def test_it_prints_a_readable_report_that_names_the_validation_part(digits_folder, centroid_file):
    completed = run_cli("evaluate", "--benchmark", str(digits_folder), "--model", str(centroid_file), "--no-suite")
    assert completed.returncode == 0, completed.stderr
    assert "accuracy" in completed.stdout and "95% CI" in completed.stdout
    n_validation = int(validation_mask(digits_folder).sum())
    assert f"part: validation ({n_validation} of the " in completed.stdout
    assert "warning" not in completed.stderr


def test_asking_for_the_training_part_warns_that_its_numbers_are_optimistic(digits_folder, centroid_file):
    completed = run_cli(
        "evaluate", "--benchmark", str(digits_folder), "--model", str(centroid_file),
        "--no-suite", "--part", "train", "--json",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["part"] == "train"
    assert report["part_items"] == (~validation_mask(digits_folder)).sum()
    assert "optimistic" in report["warning"]
    assert "warning: these numbers are on the training part" in completed.stderr


def test_it_explains_a_malformed_model_and_exits_non_zero(digits_folder, tmp_path):
    model = build_malformed_model(tmp_path, "nan")
    completed = run_cli("evaluate", "--benchmark", str(digits_folder), "--model", str(model))
    assert completed.returncode == 1
    assert "malformed_output" in completed.stderr


def test_it_explains_a_missing_benchmark_folder(tmp_path, centroid_file):
    completed = run_cli("evaluate", "--benchmark", str(tmp_path / "nowhere"), "--model", str(centroid_file))
    assert completed.returncode == 1
    assert "nowhere" in completed.stderr


def public_copy(digits_folder: Path, target: Path) -> Path:
    """The files a researcher holds after `fetch`: spec, dev split and the version record."""
    from evaluation.spec import load_benchmark as load

    target.mkdir()
    for name in ("benchmark.toml", "dev.npz"):
        (target / name).write_bytes((digits_folder / name).read_bytes())
    benchmark = load(digits_folder)
    (target / "version.json").write_text(
        json.dumps({"content_hash": benchmark.content_hash, "file_hashes": benchmark.file_hashes})
    )
    return target


def test_the_public_files_alone_give_the_same_report_as_the_full_folder(digits_folder, centroid_file, tmp_path):
    public = public_copy(digits_folder, tmp_path / "public")
    full = run_cli("evaluate", "--benchmark", str(digits_folder), "--model", str(centroid_file), "--json")
    alone = run_cli("evaluate", "--benchmark", str(public), "--model", str(centroid_file), "--json")
    assert alone.returncode == 0, alone.stderr
    assert json.loads(alone.stdout)["metrics"] == json.loads(full.stdout)["metrics"]


def test_a_tampered_dev_split_is_refused(digits_folder, centroid_file, tmp_path):
    public = public_copy(digits_folder, tmp_path / "public")
    with np.load(public / "dev.npz") as dev:
        arrays = {name: dev[name] for name in dev.files}
    arrays["labels"] = (arrays["labels"] + 1) % 10
    np.savez(public / "dev.npz", **arrays)
    completed = run_cli("evaluate", "--benchmark", str(public), "--model", str(centroid_file))
    assert completed.returncode == 1
    assert "differs from the published" in completed.stderr


def test_the_hidden_split_cannot_be_asked_for_without_it(digits_folder, centroid_file, tmp_path):
    public = public_copy(digits_folder, tmp_path / "public")
    completed = run_cli("evaluate", "--benchmark", str(public), "--model", str(centroid_file), "--split", "test")
    assert completed.returncode == 1
    assert "only on the server" in completed.stderr
