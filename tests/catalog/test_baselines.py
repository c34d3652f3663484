"""Tests for ``catalog.baselines``: deterministic TorchScript baselines trained on dev splits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from catalog import build_catalog
from catalog.__main__ import main
from catalog.baselines import Baseline, dev_accuracy, train_baselines
from evaluation.parts import dev_parts
from evaluation.spec import load_benchmark, load_dev_split

# Accuracy each baseline must reach on the validation part of the dev split, which it never trained on.
THRESHOLDS = {
    ("digits", "Logistic regression"): 0.9,
    ("digits", "Small CNN"): 0.9,
    ("mnist", "Logistic regression"): 0.85,
    ("mnist", "Small CNN"): 0.88,
    ("seattle-weather", "Logistic regression"): 0.55,
    ("seattle-weather", "MLP"): 0.55,
}


@pytest.fixture(scope="module")
def public_folders(tmp_path_factory) -> dict[str, Path]:
    """Each benchmark as a researcher downloads it: benchmark.toml, dev.npz and version.json, no test.npz."""
    built = build_catalog(tmp_path_factory.mktemp("catalog"))
    public = tmp_path_factory.mktemp("public")
    folders = {}
    for folder in built:
        target = public / folder.spec.slug
        target.mkdir()
        for name in ("benchmark.toml", "dev.npz"):
            shutil.copy(folder.path / name, target / name)
        record = {"content_hash": folder.content_hash, "file_hashes": folder.file_hashes}
        (target / "version.json").write_text(json.dumps(record))
        folders[folder.spec.slug] = target
    return folders


@pytest.fixture(scope="module")
def trained(public_folders, tmp_path_factory) -> dict[str, list[Baseline]]:
    out = tmp_path_factory.mktemp("baselines")
    return {slug: train_baselines(folder, out / slug) for slug, folder in public_folders.items()}


def test_each_benchmark_gets_a_logistic_regression_and_a_nonlinear_model(trained):
    assert {slug: [b.name for b in baselines] for slug, baselines in trained.items()} == {
        "digits": ["Logistic regression", "Small CNN"],
        "mnist": ["Logistic regression", "Small CNN"],
        "seattle-weather": ["Logistic regression", "MLP"],
    }
    for baselines in trained.values():
        for baseline in baselines:
            assert baseline.path.is_file()
            assert "dev split" in baseline.description


def test_the_baselines_train_on_the_training_part_alone(trained, public_folders):
    for slug, baselines in trained.items():
        record = json.loads((public_folders[slug] / "version.json").read_text())
        spec, dev = load_dev_split(public_folders[slug])
        parts = dev_parts(
            dev.item_ids,
            content_hash=record["content_hash"],
            fraction=spec.validation_fraction,
            clusters=dev.metadata.get("cluster"),
        )
        n_train, n_validation = int(parts["train"].sum()), int(parts["validation"].sum())
        assert n_validation > 0.15 * len(dev.labels)
        for baseline in baselines:
            assert f"on the {n_train}-item training part" in baseline.description
            assert f"its {n_validation}-item validation part held out" in baseline.description


@pytest.mark.parametrize("slug, name", THRESHOLDS)
def test_the_exported_file_maps_a_batch_to_float32_logits(trained, public_folders, slug, name):
    (baseline,) = [b for b in trained[slug] if b.name == name]
    spec, _ = load_dev_split(public_folders[slug])
    model = torch.jit.load(str(baseline.path))
    for batch in (1, 5):
        with torch.no_grad():
            logits = model(torch.rand(batch, *spec.input_shape))
        assert logits.shape == (batch, len(spec.classes))
        assert logits.dtype == torch.float32
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("slug, name", THRESHOLDS)
def test_the_baseline_reaches_its_validation_accuracy(trained, public_folders, slug, name):
    (baseline,) = [b for b in trained[slug] if b.name == name]
    assert dev_accuracy(baseline.path, public_folders[slug]) > THRESHOLDS[slug, name]


def test_training_twice_gives_identical_files_and_leaves_torch_settings_alone(trained, public_folders, tmp_path):
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(1234)
    expected_next = torch.rand(3)
    torch.manual_seed(1234)
    again = train_baselines(public_folders["seattle-weather"], tmp_path)
    assert torch.equal(torch.rand(3), expected_next), "training must not consume the caller's random stream"
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    for first, second in zip(trained["seattle-weather"], again, strict=True):
        assert first.path.read_bytes() == second.path.read_bytes()


def test_the_command_line_trains_and_prints_validation_accuracy(public_folders, tmp_path, capsys):
    assert main(["baselines", str(public_folders["seattle-weather"]), str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["Logistic regression", "MLP"]
    assert all("validation accuracy" in line and float(line.rsplit(" ", 1)[1]) > 0.55 for line in lines)


def test_a_full_benchmark_folder_also_works(tmp_path):
    (folder,) = build_catalog(tmp_path / "catalog", only="seattle-weather")
    baselines = train_baselines(folder.path, tmp_path / "models")
    assert load_benchmark(folder.path).content_hash == folder.content_hash
    assert [b.path.name for b in baselines] == ["logistic-regression.pt", "mlp.pt"]
