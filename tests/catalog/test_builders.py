"""Tests for the catalog builders: the shipped benchmark folders and their determinism."""

from __future__ import annotations

import re
import tomllib
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from catalog import BUILDERS, SLUGS, build_catalog
from catalog.__main__ import main
from catalog.folder import PUBLIC_SOURCE_DESCRIPTION, ZIP_DATE_TIME, toml_text, write_npz
from evaluation.spec import BenchmarkFolder, load_benchmark

EXPECTED = {
    "digits": {"shape": (1, 8, 8), "items": 1797, "classes": 10, "slices": ("ink",), "ids": r"digits-\d{4}"},
    "mnist": {"shape": (1, 28, 28), "items": 5000, "classes": 10, "slices": ("ink", "aspect"), "ids": r"mnist-\d{5}"},
    "seattle-weather": {
        "shape": (6,),
        "items": 1461,
        "classes": 5,
        "slices": ("season",),
        "ids": r"seattle-20\d\d-\d\d-\d\d",
    },
}
IMAGE_SUITE = [
    "gaussian_noise", "shot_noise", "impulse_noise", "gaussian_blur", "motion_blur", "contrast",
    "brightness", "occlusion", "translation", "rotation", "scale", "elastic", "fgsm", "pgd",
]  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, BenchmarkFolder]:
    return {folder.spec.slug: folder for folder in build_catalog(tmp_path_factory.mktemp("first"))}


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> dict[str, BenchmarkFolder]:
    return {folder.spec.slug: folder for folder in build_catalog(tmp_path_factory.mktemp("second"))}


def both_splits(folder: BenchmarkFolder):
    return folder.load_split("dev"), folder.load_split("test")


def test_the_registry_names_the_three_public_data_benchmarks_and_glyphs(built):
    assert list(BUILDERS) == ["digits", "mnist", "seattle-weather"]
    assert SLUGS == ("digits", "mnist", "seattle-weather", "glyphs")
    assert {slug: folder.path.name for slug, folder in built.items()} == {slug: slug for slug in BUILDERS}


@pytest.mark.parametrize("slug", EXPECTED)
def test_each_public_data_benchmark_says_its_hidden_split_can_be_rebuilt(built, slug):
    spec = built[slug].spec
    assert spec.public_source is True
    assert spec.description.endswith(PUBLIC_SOURCE_DESCRIPTION)
    assert "derived from public data" in spec.description


@pytest.mark.parametrize("slug", EXPECTED)
def test_each_builder_writes_the_declared_shapes_dtypes_and_ranges(built, slug):
    folder, expected = built[slug], EXPECTED[slug]
    spec = folder.spec
    assert spec.input_shape == expected["shape"]
    assert len(spec.classes) == expected["classes"]
    assert spec.slice_columns == expected["slices"]
    assert spec.primary_metric == "accuracy" and "accuracy" in spec.report_metrics
    dev, test = both_splits(folder)
    assert len(dev.labels) + len(test.labels) == expected["items"]
    lo, hi = spec.input_range
    for split in (dev, test):
        assert split.inputs.shape[1:] == expected["shape"] and split.inputs.dtype == np.float32
        assert split.labels.dtype == np.int64 and split.item_ids.dtype.kind == "U"
        assert lo <= split.inputs.min() and split.inputs.max() <= hi
        # Every class is present in both splits.
        assert set(split.labels.tolist()) == set(range(expected["classes"]))
        assert all(re.fullmatch(expected["ids"], item_id) for item_id in split.item_ids.tolist())


@pytest.mark.parametrize("slug", EXPECTED)
def test_no_item_is_in_both_splits(built, slug):
    dev, test = both_splits(built[slug])
    assert not set(dev.item_ids.tolist()) & set(test.item_ids.tolist())


@pytest.mark.parametrize("slug", ["digits", "mnist"])
def test_image_benchmarks_put_forty_percent_of_each_class_in_dev(built, slug):
    dev, test = both_splits(built[slug])
    dev_counts, test_counts = Counter(dev.labels.tolist()), Counter(test.labels.tolist())
    for label in dev_counts:
        assert dev_counts[label] / (dev_counts[label] + test_counts[label]) == pytest.approx(0.4, abs=0.01)


@pytest.mark.parametrize("slug", ["digits", "mnist"])
def test_image_benchmarks_use_the_full_image_suite_and_pixel_range(built, slug):
    spec = built[slug].spec
    assert spec.input_range == (0.0, 1.0)
    assert [p.name for p in spec.perturbations] == IMAGE_SUITE
    for perturbation in spec.perturbations:
        if perturbation.adversarial:
            assert perturbation.eps == (0.03, 0.1) and perturbation.strength is None
        else:
            assert perturbation.severities == (1, 2, 3, 4, 5)
            assert perturbation.strength is not None and perturbation.strength > 0
    assert "robustness suite" in spec.description


@pytest.mark.parametrize("slug, column", [("digits", "ink"), ("mnist", "ink"), ("mnist", "aspect")])
def test_tercile_slices_split_the_whole_data_set_into_thirds(built, slug, column):
    dev, test = both_splits(built[slug])
    counts = Counter(dev.metadata[column].tolist()) + Counter(test.metadata[column].tolist())
    assert len(counts) == 3
    assert max(counts.values()) - min(counts.values()) <= 1


def test_heavier_ink_means_more_ink(built):
    dev, _ = both_splits(built["digits"])
    ink = dev.inputs.sum(axis=(1, 2, 3))
    means = {level: ink[dev.metadata["ink"] == level].mean() for level in ("light", "medium", "heavy")}
    assert means["light"] < means["medium"] < means["heavy"]


def test_seattle_weather_keeps_whole_weeks_together_and_every_year_in_both_splits(built):
    folder = built["seattle-weather"]
    dev, test = both_splits(folder)
    assert not set(dev.metadata["cluster"].tolist()) & set(test.metadata["cluster"].tolist())
    assert folder.spec.era_column == "era"
    assert folder.spec.era_order == ("2012", "2013", "2014", "2015")
    for split in (dev, test):
        assert set(split.metadata["era"].tolist()) == set(folder.spec.era_order)
        assert set(split.metadata["season"].tolist()) == {"winter", "spring", "summer", "autumn"}
    # The item id carries the date, the cluster its year and week within the year.
    for item_id, week in zip(dev.item_ids.tolist(), dev.metadata["cluster"].tolist(), strict=True):
        day_of_year = (np.datetime64(item_id[8:]) - np.datetime64(item_id[8:12])).astype(int) + 1
        assert week == f"{item_id[8:12]}-w{(day_of_year - 1) // 7 + 1:02d}"
    share = len(dev.labels) / (len(dev.labels) + len(test.labels))
    assert share == pytest.approx(0.4, abs=0.02)


def test_seattle_weather_standardises_features_with_dev_statistics(built):
    folder = built["seattle-weather"]
    dev, _ = both_splits(folder)
    assert folder.spec.classes == ("drizzle", "fog", "rain", "snow", "sun")
    assert np.abs(dev.inputs.mean(axis=0)).max() < 1e-3
    assert dev.inputs.std(axis=0) == pytest.approx(np.ones(6), abs=1e-3)
    assert [p.name for p in folder.spec.perturbations] == [
        "feature_noise",
        "missing_features",
        "covariate_shift",
        "fgsm",
    ]
    assert all(p.strength for p in folder.spec.perturbations if not p.adversarial)
    assert "robustness suite" in folder.spec.description


@pytest.mark.parametrize("slug", EXPECTED)
def test_building_twice_gives_byte_identical_files_and_the_same_hash(built, rebuilt, slug):
    first, second = built[slug], rebuilt[slug]
    assert first.path != second.path
    for name in ("benchmark.toml", "dev.npz", "test.npz"):
        assert (first.path / name).read_bytes() == (second.path / name).read_bytes()
    assert first.content_hash == second.content_hash
    assert load_benchmark(second.path).content_hash == first.content_hash


def test_npz_members_have_a_fixed_timestamp_and_order(built):
    with zipfile.ZipFile(built["seattle-weather"].path / "dev.npz") as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == [
        "inputs.npy", "labels.npy", "item_ids.npy", "era.npy", "season.npy", "cluster.npy",
    ]  # fmt: skip
    assert {info.date_time for info in infos} == {ZIP_DATE_TIME}
    assert {info.compress_type for info in infos} == {zipfile.ZIP_STORED}


def test_write_npz_round_trips_through_numpy(tmp_path):
    arrays = {"b": np.arange(3, dtype=">i8"), "a": np.array(["x", "yz"]), "c": np.ones((2, 2), order="F")}
    write_npz(tmp_path / "arrays.npz", arrays)
    with np.load(tmp_path / "arrays.npz", allow_pickle=False) as loaded:
        assert loaded.files == ["b", "a", "c"]
        for name, array in arrays.items():
            np.testing.assert_array_equal(loaded[name], array)


def test_toml_text_round_trips_through_tomllib():
    document = {
        "title": 'Quotes " and \\ backslashes, a tab\t, a newline\n and ünïcode ×',
        "numbers": [1, -2.5, 0.03, 1e-5],
        "flag": True,
        "table": {"range": [0.0, 1.0], "names": ["a", "b"]},
        "entries": [{"name": "blur", "severities": [1, 2]}, {"name": "fgsm", "eps": [0.1]}],
    }
    assert tomllib.loads(toml_text(document)) == document


def test_the_command_line_builds_one_benchmark_and_prints_its_hash(tmp_path, capsys, built):
    assert main(["build", str(tmp_path), "--only", "digits"]) == 0
    slug, content_hash, path = capsys.readouterr().out.strip().split("\t")
    assert (slug, content_hash, Path(path)) == ("digits", built["digits"].content_hash, tmp_path / "digits")


def test_the_command_line_builds_the_public_data_benchmarks_without_a_secret(tmp_path, capsys, built):
    assert main(["build", str(tmp_path)]) == 0
    output = capsys.readouterr()
    lines = [line.split("\t") for line in output.out.strip().splitlines()]
    assert [(slug, content_hash) for slug, content_hash, _ in lines] == [
        (slug, built[slug].content_hash) for slug in BUILDERS
    ]
    assert "skipped glyphs" in output.err and "--secret-file" in output.err
