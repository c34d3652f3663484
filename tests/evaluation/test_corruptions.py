"""Tests for ``evaluation.corruptions``: the corruption functions, checked against their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from evaluation.corruptions import CORRUPTIONS, Reference, canonical_name, corrupt, severity_parameter
from evaluation.spec import KNOWN_PERTURBATIONS, PERTURBATION_ALIASES, parse_spec

IMAGE = [name for name, entry in CORRUPTIONS.items() if entry.kind == "image"]
TABULAR = [name for name, entry in CORRUPTIONS.items() if entry.kind == "tabular"]
# These draw nothing from the generator: the same output at any seed.
DETERMINISTIC = {"gaussian_blur", "contrast", "brightness", "covariate_shift"}


def digit_like_images(n: int = 64, size: int = 12, seed: int = 0) -> np.ndarray:
    """Dark images with a bright blurred stroke near the centre, in [0, 1], float32 [n, 1, S, S]."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 1, size, size))
    for index in range(n):
        top, left = rng.integers(size // 4, size // 2, size=2)
        images[index, 0, top : top + size // 3, left : left + 2] = 1.0
        images[index, 0, top, left : left + size // 3] = 1.0
    return np.clip(ndimage.gaussian_filter(images, sigma=(0, 0, 0.5, 0.5)) * 1.5, 0, 1).astype(np.float32)


def image_reference(images: np.ndarray, low: float = 0.0, high: float = 1.0) -> Reference:
    values = images.astype(np.float64)
    return Reference(low=low, high=high, mean=values.mean(axis=0), spread=values.std(axis=0))


def tabular_data(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, Reference]:
    rng = np.random.default_rng(seed)
    data = (rng.standard_normal((n, 4)) * np.array([1.0, 0.5, 2.0, 0.1]) + np.array([0.0, 1.0, -1.0, 0.5])).astype(
        np.float32
    )
    values = data.astype(np.float64)
    return data, Reference(low=-20.0, high=20.0, mean=values.mean(axis=0), spread=values.std(axis=0))


def inputs_for(name: str) -> tuple[np.ndarray, Reference]:
    if CORRUPTIONS[name].kind == "image":
        images = digit_like_images()
        return images, image_reference(images)
    return tabular_data(500)


def test_the_registry_holds_every_corruption_of_the_spec_with_its_kind():
    assert IMAGE == [
        "gaussian_noise", "shot_noise", "impulse_noise", "gaussian_blur", "motion_blur", "contrast",
        "brightness", "occlusion", "translation", "rotation", "scale", "elastic",
    ]  # fmt: skip
    assert TABULAR == ["feature_noise", "missing_features", "covariate_shift"]
    for name, entry in CORRUPTIONS.items():
        assert KNOWN_PERTURBATIONS[name] == entry.kind and entry.name == name
        assert len(entry.parameters) == 5 and list(entry.parameters) == sorted(entry.parameters)
        assert entry.parameters[0] > 0 and entry.description
    # Every non-adversarial name a spec accepts resolves to a registered corruption.
    for name, kind in KNOWN_PERTURBATIONS.items():
        if kind != "adversarial":
            assert CORRUPTIONS[canonical_name(name)].kind == kind


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_the_same_seed_gives_identical_bytes_and_the_input_is_left_alone(name):
    inputs, reference = inputs_for(name)
    before = inputs.copy()
    first = corrupt(name, inputs, 3, np.random.default_rng(7), reference=reference, strength=1.3)
    second = corrupt(name, inputs, 3, np.random.default_rng(7), reference=reference, strength=1.3)
    assert first.tobytes() == second.tobytes()
    np.testing.assert_array_equal(inputs, before)
    other = corrupt(name, inputs, 3, np.random.default_rng(8), reference=reference, strength=1.3)
    assert (other.tobytes() == first.tobytes()) == (name in DETERMINISTIC)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
@pytest.mark.parametrize("severity", [1, 5])
def test_outputs_are_float32_of_the_input_shape_inside_the_declared_range(name, severity):
    inputs, reference = inputs_for(name)
    narrow = Reference(low=-1.0, high=1.0, mean=reference.mean, spread=reference.spread)
    for ref in (reference, narrow):
        out = corrupt(name, inputs, severity, np.random.default_rng(1), reference=ref, strength=4.0)
        assert out.dtype == np.float32 and out.shape == inputs.shape
        assert np.isfinite(out).all() and out.min() >= ref.low and out.max() <= ref.high
    assert not np.array_equal(corrupt(name, inputs, severity, np.random.default_rng(1), reference=reference), inputs)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_higher_severity_moves_the_inputs_further_on_average(name):
    inputs, reference = inputs_for(name)
    distances = [
        float(np.abs(corrupt(name, inputs, s, np.random.default_rng(s), reference=reference) - inputs).mean())
        for s in (1, 2, 3, 4, 5)
    ]
    assert distances == sorted(distances) and distances[0] > 0, distances


def test_strength_multiplies_the_severity_parameter():
    images = digit_like_images()
    reference = image_reference(images)
    assert severity_parameter("gaussian_noise", 2, 1.0) == 0.08 == severity_parameter("gaussian_noise", 1, 2.0)
    assert severity_parameter("rotation", 5, 0.5) == 25.0
    # The same parameter and generator give the same output whichever way it was reached.
    by_severity = corrupt("gaussian_noise", images, 2, np.random.default_rng(3), reference=reference)
    by_strength = corrupt("gaussian_noise", images, 1, np.random.default_rng(3), reference=reference, strength=2.0)
    np.testing.assert_array_equal(by_severity, by_strength)


def test_older_spellings_mean_the_same_corruptions():
    images = digit_like_images()
    reference = image_reference(images)
    assert PERTURBATION_ALIASES == {"blur": "gaussian_blur", "shift": "translation", "salt_and_pepper": "impulse_noise"}
    for old, new in PERTURBATION_ALIASES.items():
        assert canonical_name(old) == new
        np.testing.assert_array_equal(
            corrupt(old, images, 2, np.random.default_rng(5), reference=reference),
            corrupt(new, images, 2, np.random.default_rng(5), reference=reference),
        )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, r: corrupt("fog", x, 1, np.random.default_rng(0), reference=r), "unknown corruption 'fog'"),
        (lambda x, r: corrupt("contrast", x, 0, np.random.default_rng(0), reference=r), "severity must be one of 1..5"),
        (lambda x, r: corrupt("contrast", x, 6, np.random.default_rng(0), reference=r), "severity must be one of 1..5"),
        (lambda x, r: corrupt("contrast", x, 1, np.random.default_rng(0), reference=r, strength=0), "strength"),
        (lambda x, r: corrupt("contrast", x, 1, np.random.default_rng(0), reference=r, strength=math.nan), "strength"),
        (lambda x, r: corrupt("contrast", x[:, 0, 0], 1, np.random.default_rng(0), reference=r), r"\[N, C, H, W\]"),
        (lambda x, r: corrupt("feature_noise", x, 1, np.random.default_rng(0), reference=r), r"\[N, F\]"),
        (
            lambda x, r: corrupt("contrast", x, 1, np.random.default_rng(0), reference=r, features=(0,)),
            "only covariate_shift takes features",
        ),
    ],
)
def test_it_refuses_bad_arguments_with_a_message_naming_them(call, message):
    images = digit_like_images(4)
    with pytest.raises((ValueError, KeyError), match=message):
        call(images, image_reference(images))


# --- Each corruption against its formula -----------------------------------------------------


def test_gaussian_noise_adds_normal_noise_of_sd_c_times_the_range_width():
    images = np.full((200, 1, 16, 16), 0.5, dtype=np.float32)
    reference = Reference(low=-2.0, high=2.0, mean=np.zeros((1, 16, 16)), spread=np.ones((1, 16, 16)))
    out = corrupt("gaussian_noise", images, 3, np.random.default_rng(0), reference=reference)
    expected = 0.5 + 0.12 * 4.0 * np.random.default_rng(0).standard_normal(images.shape)
    np.testing.assert_allclose(out, np.clip(expected, -2, 2).astype(np.float32), rtol=0, atol=1e-6)
    assert float(out.std()) == pytest.approx(0.48, rel=0.01)


def test_shot_noise_keeps_the_mean_and_has_the_poisson_variance():
    level = 0.4
    images = np.full((100, 1, 20, 20), level, dtype=np.float32)
    reference = image_reference(images)
    out = corrupt("shot_noise", images, 3, np.random.default_rng(0), reference=reference).astype(np.float64)
    photons = 12.0  # 1 / c_3
    assert out.mean() == pytest.approx(level, abs=0.005)
    assert out.var() == pytest.approx(level / photons, rel=0.03)
    # Black stays black: no photon comes from a pixel at the low end.
    assert corrupt("shot_noise", np.zeros_like(images), 5, np.random.default_rng(0), reference=reference).max() == 0


def test_impulse_noise_sets_a_share_p_of_pixels_to_the_two_ends_in_equal_parts():
    images = np.full((100, 1, 20, 20), 0.5, dtype=np.float32)
    out = corrupt("impulse_noise", images, 4, np.random.default_rng(0), reference=image_reference(images))
    assert set(np.unique(out).tolist()) == {0.0, 0.5, 1.0}
    assert float((out == 0).mean()) == pytest.approx(0.085, abs=0.004)
    assert float((out == 1).mean()) == pytest.approx(0.085, abs=0.004)


def test_contrast_and_brightness_follow_their_formulas():
    images = digit_like_images(8)
    reference = image_reference(images)
    mean = images.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    contrast = corrupt("contrast", images, 2, np.random.default_rng(0), reference=reference)
    np.testing.assert_allclose(contrast, mean + 0.45 * (images - mean), atol=1e-6)
    bright = corrupt("brightness", images, 3, np.random.default_rng(0), reference=reference)
    np.testing.assert_allclose(bright, np.clip(images + 0.3, 0, 1), atol=1e-6)
    # A strength that would remove more than all contrast leaves each image flat at its mean.
    flat = corrupt("contrast", images, 5, np.random.default_rng(0), reference=reference, strength=2.0)
    np.testing.assert_allclose(flat, np.broadcast_to(mean, images.shape), atol=1e-6)


def test_occlusion_blanks_a_square_of_side_c_times_the_image_size():
    images = np.ones((300, 2, 10, 10), dtype=np.float32)
    out = corrupt("occlusion", images, 3, np.random.default_rng(0), reference=image_reference(images, low=-1.0))
    covered = (1.0 - out.astype(np.float64)) / 2.0  # 0 where untouched, 1 where fully covered.
    # The patch covers side² = (0.3 · 10)² pixels in every image and channel, and lies inside it.
    np.testing.assert_allclose(covered.sum(axis=(2, 3)), 9.0, atol=1e-5)
    np.testing.assert_array_equal(covered[:, 0], covered[:, 1])
    assert covered.max() == pytest.approx(1.0)
    # Where it is: uniformly spread, so every pixel is covered in some image.
    assert (covered.max(axis=0) > 0).all()


def test_gaussian_blur_spreads_a_point_by_sd_c_times_the_image_size():
    images = np.zeros((1, 1, 41, 41), dtype=np.float32)
    images[0, 0, 20, 20] = 1.0
    out = corrupt("gaussian_blur", images, 5, np.random.default_rng(0), reference=image_reference(images))
    weights = out[0, 0].astype(np.float64) / out.sum()
    rows = np.arange(41)[:, None] - 20
    sigma = 0.10 * 41
    assert float((weights * rows**2).sum()) == pytest.approx(sigma**2, rel=0.02)


def test_motion_blur_is_the_mean_of_shifted_copies_along_one_direction_per_image():
    images = digit_like_images(20, size=14)
    reference = image_reference(images)
    out = corrupt("motion_blur", images, 4, np.random.default_rng(2), reference=reference, strength=1.5)
    # An independent reference: scipy's bilinear interpolation, image by image, copy by copy.
    angles = np.random.default_rng(2).uniform(0, math.pi, size=20)
    length = 0.40 * 1.5 * 14
    expected = np.zeros(images.shape)
    rows, columns = np.mgrid[0:14, 0:14].astype(np.float64)
    for index, angle in enumerate(angles):
        for offset in np.linspace(-length / 2, length / 2, 9):
            coordinates = [rows + offset * math.sin(angle), columns + offset * math.cos(angle)]
            expected[index, 0] += ndimage.map_coordinates(
                images[index, 0].astype(np.float64), coordinates, order=1, mode="nearest"
            )
    np.testing.assert_allclose(out, np.clip(expected / 9, 0, 1), atol=1e-6)


def centre_of_mass(images: np.ndarray) -> np.ndarray:
    """``[n, 2]``: row and column of each image's centre of mass."""
    rows, columns = np.mgrid[0 : images.shape[2], 0 : images.shape[3]]
    mass = images[:, 0].astype(np.float64)
    total = mass.sum(axis=(1, 2))
    return np.stack([(mass * rows).sum(axis=(1, 2)) / total, (mass * columns).sum(axis=(1, 2)) / total], axis=1)


def blob(n: int, size: int = 40, at: tuple[float, float] | None = None) -> np.ndarray:
    rows, columns = np.mgrid[0:size, 0:size]
    row, column = at if at is not None else ((size - 1) / 2, (size - 1) / 2)
    image = np.exp(-((rows - row) ** 2 + (columns - column) ** 2) / (2 * 2.0**2))
    return np.repeat(image[None, None], n, axis=0).astype(np.float32)


def test_translation_moves_the_centre_of_mass_by_c_times_the_image_size():
    images = blob(50)
    out = corrupt("translation", images, 2, np.random.default_rng(0), reference=image_reference(images))
    moved = np.linalg.norm(centre_of_mass(out) - centre_of_mass(images), axis=1)
    np.testing.assert_allclose(moved, 0.10 * 40, atol=0.02)
    directions = np.arctan2(*(centre_of_mass(out) - centre_of_mass(images)).T)
    assert np.ptp(directions) > math.pi  # Directions vary from image to image.


def test_rotation_turns_an_off_centre_blob_by_plus_or_minus_c_degrees():
    images = blob(60, at=(19.5, 29.5))  # 10 pixels right of the centre.
    out = corrupt("rotation", images, 3, np.random.default_rng(0), reference=image_reference(images))
    offset = centre_of_mass(out) - 19.5
    degrees = np.degrees(np.arctan2(-offset[:, 0], offset[:, 1]))
    np.testing.assert_allclose(np.abs(degrees), 30.0, atol=0.5)
    assert set(np.sign(degrees).tolist()) == {-1.0, 1.0}
    np.testing.assert_allclose(np.linalg.norm(offset, axis=1), 10.0, atol=0.1)


def test_scale_zooms_about_the_centre_by_one_plus_c_either_way():
    images = blob(60, at=(19.5, 27.5))  # 8 pixels right of the centre.
    out = corrupt("scale", images, 2, np.random.default_rng(0), reference=image_reference(images))
    distance = np.linalg.norm(centre_of_mass(out) - 19.5, axis=1)
    factors = np.sort(np.unique(np.round(distance / 8.0, 2)))
    np.testing.assert_allclose(factors, [1 / 1.3, 1.3], atol=0.01)


def test_elastic_displacements_are_smooth_and_have_the_stated_size():
    # On a linear ramp, bilinear reading returns the coordinate itself, so the output minus the
    # input is exactly the displacement field (away from the edges, which are extended).
    size = 48
    ramp = np.tile((np.arange(size) / (size - 1))[None, :], (size, 1))
    images = np.repeat(ramp[None, None], 20, axis=0).astype(np.float32)
    reference = image_reference(images)
    out = corrupt("elastic", images, 3, np.random.default_rng(0), reference=reference)
    displacement = (out.astype(np.float64) - images) * (size - 1)
    inner = displacement[:, 0, 8:-8, 8:-8]
    # The column component alone has about half the mean square of the whole field.
    rms = math.sqrt(float((inner**2).mean()) * 2)
    assert rms == pytest.approx(0.06 * size, rel=0.25)
    # Smooth: neighbouring pixels move almost alike.
    assert np.abs(np.diff(inner, axis=2)).mean() < 0.2 * np.abs(inner).mean()


def test_reference_from_dev_holds_the_range_and_per_feature_mean_and_spread():
    spec = parse_spec(
        'slug = "t"\nversion = "1.0.0"\ntitle = "t"\ndescription = "t"\nlicense = "t"\nsource = "t"\n'
        'task = "classification"\nclasses = ["a", "b"]\nchangelog = ""\n'
        '[input]\nshape = [2]\ndtype = "float32"\nrange = [-3.0, 3.0]\n'
        '[metrics]\nprimary = "accuracy"\nreport = ["accuracy"]\n'
    )
    dev = np.array([[0.0, 1.0], [2.0, 1.0], [1.0, 4.0]], dtype=np.float32)
    reference = Reference.from_dev(spec, dev)
    assert (reference.low, reference.high) == (-3.0, 3.0)
    assert reference.mean.dtype == np.float64 and reference.spread.shape == (2,)
    np.testing.assert_allclose(reference.mean, [1.0, 2.0])
    np.testing.assert_allclose(reference.spread, [math.sqrt(2 / 3), math.sqrt(2.0)])
    with pytest.raises(ValueError, match=r"shape \[N, 2\]"):
        Reference.from_dev(spec, dev[:, :1])


def test_feature_noise_has_sd_c_times_each_features_spread():
    data, reference = tabular_data()
    out = corrupt("feature_noise", data, 4, np.random.default_rng(0), reference=reference)
    np.testing.assert_allclose((out - data).std(axis=0), 0.75 * reference.spread, rtol=0.05)


def test_missing_features_replace_a_share_p_of_entries_with_the_dev_mean():
    data, reference = tabular_data()
    out = corrupt("missing_features", data, 3, np.random.default_rng(0), reference=reference)
    changed = out != data
    assert float(changed.mean()) == pytest.approx(0.30, abs=0.01)
    filled = np.broadcast_to(reference.mean.astype(np.float32), data.shape)
    np.testing.assert_array_equal(out[changed], filled[changed])


def test_covariate_shift_moves_the_chosen_features_by_c_times_their_spread():
    data, reference = tabular_data(100)
    every = corrupt("covariate_shift", data, 2, np.random.default_rng(0), reference=reference)
    np.testing.assert_allclose(every - data, np.broadcast_to(0.5 * reference.spread, data.shape), atol=1e-5)
    some = corrupt("covariate_shift", data, 5, np.random.default_rng(0), reference=reference, features=(1, 3))
    np.testing.assert_allclose(
        some - data, np.broadcast_to(1.5 * reference.spread * [0, 1, 0, 1], data.shape), atol=1e-5
    )
    with pytest.raises(ValueError, match="features must be indices"):
        corrupt("covariate_shift", data, 1, np.random.default_rng(0), reference=reference, features=(4,))
