"""``python -m evaluation evaluate``: the same scoring the server does, on a local folder."""

from __future__ import annotations

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


def test_it_scores_a_model_on_the_dev_split_and_prints_json(digits_folder, centroid_file):
    completed = run_cli("evaluate", "--benchmark", str(digits_folder), "--model", str(centroid_file), "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    dev = load_benchmark(digits_folder).load_split("dev")
    flat = dev.inputs.reshape(len(dev.inputs), -1)
    centroids = np.stack([flat[dev.labels == c].mean(axis=0) for c in range(10)])
    expected = np.mean(((flat[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1) == dev.labels)
    accuracy = report["metrics"]["accuracy"]
    assert accuracy["value"] == pytest.approx(expected, abs=1e-9)
    assert accuracy["ci_low"] < accuracy["value"] < accuracy["ci_high"]
    assert report["provenance"]["benchmark"]["split"] == "dev"
    assert "[" in completed.stderr  # progress lines


def test_it_prints_a_readable_report(digits_folder, centroid_file):
    completed = run_cli("evaluate", "--benchmark", str(digits_folder), "--model", str(centroid_file))
    assert completed.returncode == 0, completed.stderr
    assert "accuracy" in completed.stdout and "95% CI" in completed.stdout


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
