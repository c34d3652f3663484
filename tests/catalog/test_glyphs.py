"""Tests for ``catalog.glyphs``: the benchmark generated from a site's secret."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from catalog import SECRET_BUILDERS, build_catalog
from catalog.__main__ import main
from catalog.glyphs import CLASSES, ERAS, SLICE_COLUMNS, build, build_from_secret, render_strokes, uniforms
from catalog.secret import SiteSecretError, generation_seed
from evaluation.spec import BenchmarkFolder

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> BenchmarkFolder:
    return build_from_secret(tmp_path_factory.mktemp("first") / "glyphs", SECRET)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> BenchmarkFolder:
    return build_from_secret(tmp_path_factory.mktemp("second") / "glyphs", SECRET)


@pytest.fixture(scope="module")
def other_site(tmp_path_factory) -> BenchmarkFolder:
    return build_from_secret(tmp_path_factory.mktemp("other") / "glyphs", OTHER_SECRET)


def image_digests(folder: BenchmarkFolder, split: str) -> set[str]:
    return {hashlib.sha256(image.tobytes()).hexdigest() for image in folder.load_split(split).inputs}


def test_the_same_secret_rebuilds_the_same_bytes_and_content_hash(built, rebuilt):
    assert built.path != rebuilt.path
    for name in ("benchmark.toml", "dev.npz", "test.npz"):
        assert (built.path / name).read_bytes() == (rebuilt.path / name).read_bytes()
    assert built.content_hash == rebuilt.content_hash


def test_another_secret_gives_another_hidden_split(built, other_site):
    assert other_site.content_hash != built.content_hash
    assert other_site.file_hashes["test.npz"] != built.file_hashes["test.npz"]
    # Not one hidden image of one site appears in the other's split.
    assert not image_digests(built, "test") & image_digests(other_site, "test")
    ours, theirs = built.load_split("test"), other_site.load_split("test")
    label_of = dict(zip(ours.item_ids.tolist(), ours.labels.tolist(), strict=True))
    pairs = zip(theirs.item_ids.tolist(), theirs.labels.tolist(), strict=True)
    agreeing = [label_of.get(item) == label for item, label in pairs]
    # Labels by item id agree about as often as chance (1 in 8), not systematically.
    assert np.mean(agreeing) < 0.25


def test_no_hidden_image_repeats_a_public_dev_image(built):
    # The two splits are drawn from separately keyed streams.
    assert not image_digests(built, "dev") & image_digests(built, "test")


def test_neither_the_secret_nor_the_derived_seed_is_written_anywhere(built):
    seed = generation_seed(SECRET, "glyphs", "1.0.0")
    for name in ("benchmark.toml", "dev.npz", "test.npz"):
        data = (built.path / name).read_bytes()
        for value in (SECRET, seed):
            assert value not in data and value.hex().encode() not in data
    assert "secret" in built.spec.description and "held by this site" in built.spec.description
    assert built.spec.public_source is False


def test_the_builder_refuses_a_short_seed(tmp_path):
    with pytest.raises(ValueError, match="at least 16 bytes"):
        build(tmp_path / "glyphs", seed=b"short")


def test_it_declares_eight_glyphs_six_slices_three_eras_and_the_image_suite(built):
    spec = built.spec
    assert spec.slug == "glyphs" and spec.classes == CLASSES and len(CLASSES) == 8
    assert spec.input_shape == (1, 28, 28) and spec.input_range == (0.0, 1.0)
    assert spec.slice_columns == SLICE_COLUMNS == ("scale", "stroke", "rotation", "offset", "contrast", "background")
    assert spec.era_column == "era" and spec.era_order == ERAS == ("early", "middle", "late")
    assert [p.name for p in spec.perturbations][-2:] == ["fgsm", "pgd"]
    assert all(p.strength for p in spec.perturbations if not p.adversarial)
    for name in ("dev", "test"):
        split = built.load_split(name)
        assert split.inputs.dtype == np.float32 and 0.0 <= split.inputs.min() and split.inputs.max() <= 1.0
        # Pixels are 8-bit levels.
        levels = split.inputs.astype(np.float64) * 255
        assert np.abs(levels - np.round(levels)).max() < 1e-4
        for column in SLICE_COLUMNS:
            assert len(set(split.metadata[column].tolist())) == 3, column


def test_the_dev_split_leans_to_the_early_era_and_the_test_split_is_balanced(built):
    dev, test = built.load_split("dev"), built.load_split("test")
    assert Counter(dev.metadata["era"].tolist()) == {"early": 800, "middle": 480, "late": 320}
    assert Counter(test.metadata["era"].tolist()) == {"early": 800, "middle": 800, "late": 800}
    for era in ERAS:
        labels = test.labels[test.metadata["era"] == era]
        assert Counter(labels.tolist()) == dict.fromkeys(range(8), 100)


def test_item_ids_are_one_shuffle_of_both_splits(built):
    dev, test = built.load_split("dev"), built.load_split("test")
    numbers = sorted(int(item[len("glyphs-") :]) for item in [*dev.item_ids.tolist(), *test.item_ids.tolist()])
    assert numbers == list(range(4000))
    dev_numbers = np.array([int(item[len("glyphs-") :]) for item in dev.item_ids.tolist()])
    # Dev ids are spread over the whole range rather than forming a block.
    assert dev_numbers.min() < 100 and dev_numbers.max() > 3900
    assert not (np.diff(dev.labels) == 0).all()


def test_later_eras_have_low_contrast_and_noisy_backgrounds_more_often(built):
    test = built.load_split("test")
    for column, level in (("contrast", "low"), ("background", "noisy")):
        shares = [np.mean(test.metadata[column][test.metadata["era"] == era] == level) for era in ERAS]
        assert shares[0] < shares[1] < shares[2], (column, shares)
        assert shares[2] - shares[0] > 0.25


def test_slice_levels_describe_the_images(built):
    test = built.load_split("test")
    images = test.inputs[:, 0].astype(np.float64)
    # Contrast: the brightest pixels stand further above the median background.
    lift = np.percentile(images, 99, axis=(1, 2)) - np.median(images, axis=(1, 2))
    by_contrast = {level: lift[test.metadata["contrast"] == level].mean() for level in ("low", "medium", "high")}
    assert by_contrast["low"] < by_contrast["medium"] < by_contrast["high"]
    # Background: pixel noise shows in the differences between horizontal neighbours.
    roughness = np.abs(np.diff(images, axis=2)).mean(axis=(1, 2))
    by_background = {level: roughness[test.metadata["background"] == level].mean() for level in ("clean", "noisy")}
    assert by_background["noisy"] > 2 * by_background["clean"]
    # Scale: larger glyphs cover more pixels well above the background.
    inked = (images - np.median(images, axis=(1, 2), keepdims=True) > 0.15).sum(axis=(1, 2))
    by_scale = {level: inked[test.metadata["scale"] == level].mean() for level in ("small", "medium", "large")}
    assert by_scale["small"] < by_scale["medium"] < by_scale["large"]


def test_uniforms_are_the_top_53_bits_of_the_keyed_shake_stream():
    key = b"k" * 32
    values = uniforms(key, "scale:level", 5)
    stream = hashlib.shake_256(key + b"\x1fscale:level").digest(40)
    expected = [(int.from_bytes(stream[8 * i : 8 * i + 8], "little") >> 11) / 2**53 for i in range(5)]
    assert values.tolist() == expected
    assert not np.array_equal(values, uniforms(key, "scale:value", 5))
    assert not np.array_equal(values, uniforms(b"j" * 32, "scale:level", 5))


def test_a_ring_is_drawn_on_its_radius_and_a_turned_bar_stands_upright():
    one = np.ones(1)
    ring = render_strokes(np.array([CLASSES.index("circle")]), 13.5 * one, 13.5 * one, 10 * one, one, 0 * one, 2 * one)
    # The ring's centre line is at 0.8 radii = 8 pixels from the centre.
    assert ring[0, 13, 13] == 0.0
    assert ring[0, round(13.5 - 8), 13] == pytest.approx(1.0)
    bar = CLASSES.index("bar")
    flat = render_strokes(np.array([bar]), 14 * one, 14 * one, 10 * one, one, 0 * one, 2 * one)
    turned = render_strokes(np.array([bar]), 14 * one, 14 * one, 10 * one, 0 * one, one, 2 * one)
    assert flat[0, 14, 6] == 1.0 and flat[0, 6, 14] == 0.0
    assert turned[0, 6, 14] == 1.0 and turned[0, 14, 6] == 0.0


def test_it_is_registered_as_a_secret_builder_and_not_built_without_a_secret(tmp_path):
    assert list(SECRET_BUILDERS) == ["glyphs"]
    with pytest.raises(SiteSecretError, match="--secret-file"):
        build_catalog(tmp_path, only="glyphs")
    assert [folder.spec.slug for folder in build_catalog(tmp_path / "all")] == ["digits", "mnist", "seattle-weather"]


def test_the_command_line_needs_the_secret_file_for_glyphs(tmp_path, capsys, built):
    assert main(["build", str(tmp_path / "none"), "--only", "glyphs"]) == 1
    assert "--secret-file" in capsys.readouterr().err
    secret_file = tmp_path / "benchmark-secret"
    secret_file.write_text(SECRET.hex() + "\n")
    secret_file.chmod(0o600)
    assert main(["build", str(tmp_path / "out"), "--only", "glyphs", "--secret-file", str(secret_file)]) == 0
    slug, content_hash, path = capsys.readouterr().out.strip().split("\t")
    assert (slug, content_hash, Path(path)) == ("glyphs", built.content_hash, tmp_path / "out" / "glyphs")
