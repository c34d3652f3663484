"""Corruptions with graded severity: pure numpy/scipy functions of a batch of inputs.

Every corruption is ``function(inputs, severity, rng, *, reference, strength) -> array``: it
takes float32 inputs ``[N, *shape]``, a severity in ``1..5``, a ``numpy.random.Generator``, the
dev-split ``Reference`` and the benchmark's ``strength``, and returns the corrupted batch. The
same inputs, severity, strength and generator state always give the same output, and
severities are ascending in strength. Each has a parameter ``c_s`` per severity ``s`` (the
tables below); the benchmark's ``strength`` multiplies it, which is how a spec calibrates the
suite so that severity 1 is mild and 5 is hard for its baseline.

Image corruptions take ``[N, C, H, W]`` and state their parameters relative to the width of
the declared range ``w = high − low`` and the image size ``S = min(H, W)``, so one table works
for 8×8 and 28×28 images. Tabular corruptions take ``[N, F]`` and state theirs relative to
each feature's dev-split standard deviation. ``corrupt`` clips every result to the declared
range and returns float32; the formulas are in each function's docstring and in
``docs/methods.md`` ("Corruptions").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from evaluation.spec import PERTURBATION_ALIASES, SEVERITY_LEVELS

if TYPE_CHECKING:
    from evaluation.spec import BenchmarkSpec

__all__ = ["CORRUPTIONS", "Corruption", "Reference", "canonical_name", "corrupt", "severity_parameter"]

#: Number of shifted copies a motion blur averages; fixed so its cost does not grow with length.
MOTION_SAMPLES = 9
#: Smoothness of the elastic displacement field: the Gaussian filter's sd is ``S / 8`` pixels.
ELASTIC_SMOOTHNESS = 1 / 8


@dataclass(frozen=True)
class Reference:
    """Facts of the public dev split some corruptions need."""

    low: float
    """Lower end of the spec's declared input range."""
    high: float
    """Upper end of the spec's declared input range."""
    mean: np.ndarray
    """Per-feature dev-split mean, shape = input shape, float64."""
    spread: np.ndarray
    """Per-feature dev-split standard deviation (``ddof = 0``), shape = input shape, float64."""

    @classmethod
    def from_dev(cls, spec: BenchmarkSpec, dev_inputs: np.ndarray) -> Reference:
        """The reference of a version: its declared range and the dev inputs' mean and spread."""
        values = np.asarray(dev_inputs, dtype=np.float64)
        if values.shape[1:] != tuple(spec.input_shape) or len(values) == 0:
            raise ValueError(
                f"dev inputs must have shape [N, {', '.join(map(str, spec.input_shape))}] with N ≥ 1, "
                f"got {list(values.shape)}"
            )
        low, high = spec.input_range
        return cls(low=float(low), high=float(high), mean=values.mean(axis=0), spread=values.std(axis=0))


@dataclass(frozen=True)
class Corruption:
    """One entry of the registry."""

    name: str
    """Registry key, as a spec's ``[[perturbations]].name``."""
    kind: str
    """``image`` (inputs ``[N, C, H, W]``) or ``tabular`` (inputs ``[N, F]``)."""
    function: Callable[..., np.ndarray]
    """``(inputs, severity, rng, *, reference, strength) -> array`` (unclipped)."""
    description: str
    """One sentence for the site, with the parameters at strength 1."""
    parameters: tuple[float, ...]
    """``c_s`` for severities 1..5 at strength 1."""


def severity_parameter(name: str, severity: int, strength: float = 1.0) -> float:
    """``c_s · strength``, the parameter of corruption ``name`` at ``severity``."""
    if severity not in SEVERITY_LEVELS:
        raise ValueError(f"severity must be one of 1..5, got {severity!r}")
    if not (isinstance(strength, int | float) and math.isfinite(strength) and strength > 0):
        raise ValueError(f"strength must be a positive number, got {strength!r}")
    return CORRUPTIONS[canonical_name(name)].parameters[severity - 1] * float(strength)


def canonical_name(name: str) -> str:
    """The registry key of ``name``, accepting the older spellings ``blur``, ``shift``, ``salt_and_pepper``."""
    canonical = PERTURBATION_ALIASES.get(name, name)
    if canonical not in CORRUPTIONS:
        raise KeyError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    return canonical


def corrupt(
    name: str,
    inputs: np.ndarray,
    severity: int,
    rng: np.random.Generator,
    *,
    reference: Reference,
    strength: float = 1.0,
    features: tuple[int, ...] | None = None,
) -> np.ndarray:
    """float32, same shape, clipped to [reference.low, reference.high]; never modifies ``inputs``.

    ``features`` (``covariate_shift`` only) chooses the shifted features; ``None`` means all.
    """
    entry = CORRUPTIONS[canonical_name(name)]
    severity_parameter(name, severity, strength)  # Validates severity and strength.
    batch = np.asarray(inputs)
    expected = 4 if entry.kind == "image" else 2
    if batch.ndim != expected:
        layout = "[N, C, H, W]" if entry.kind == "image" else "[N, F]"
        raise ValueError(
            f"{entry.name} is a {entry.kind} corruption and needs inputs {layout}, got {list(batch.shape)}"
        )
    options: dict[str, object] = {"reference": reference, "strength": float(strength)}
    if features is not None:
        if entry.name != "covariate_shift":
            raise ValueError(f"only covariate_shift takes features, not {entry.name}")
        options["features"] = features
    # The functions work on a float64 copy, so the caller's array is never written to.
    result: np.ndarray = entry.function(batch.astype(np.float64), severity, rng, **options)
    clipped: np.ndarray = np.clip(result, reference.low, reference.high).astype(np.float32)
    return clipped


# --- Image corruptions: pixel noise and intensity -------------------------------------------


def gaussian_noise(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """``x + ε``, ``ε ~ N(0, (c_s w)²)`` independently per pixel."""
    sd = severity_parameter("gaussian_noise", severity, strength) * (reference.high - reference.low)
    return x + sd * rng.standard_normal(x.shape)


def shot_noise(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """Photon noise: ``low + w · Poisson(λ u) / λ`` with ``u = (x − low) / w``, ``λ = 1 / c_s``.

    A pixel's variance is ``u / λ`` in range units: bright pixels get more noise than dark ones.
    """
    width = reference.high - reference.low
    photons = 1.0 / severity_parameter("shot_noise", severity, strength)
    level = np.clip((x - reference.low) / width, 0.0, 1.0)
    return reference.low + width * rng.poisson(level * photons) / photons


def impulse_noise(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """Salt and pepper: each pixel becomes ``low`` with probability ``p/2`` and ``high`` with ``p/2``, ``p = min(c_s, 1)``."""
    share = min(severity_parameter("impulse_noise", severity, strength), 1.0)
    draw = rng.random(x.shape)
    out = np.where(draw < share / 2, reference.low, x)
    return np.where((draw >= share / 2) & (draw < share), reference.high, out)


def contrast(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """``m + (1 − min(c_s, 1)) (x − m)``, ``m`` the mean of each image and channel (no randomness)."""
    keep = 1.0 - min(severity_parameter("contrast", severity, strength), 1.0)
    mean = x.mean(axis=(2, 3), keepdims=True)
    reduced: np.ndarray = mean + keep * (x - mean)
    return reduced


def brightness(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """``x + c_s w`` (no randomness); the clip to the range saturates the brightest pixels."""
    return x + severity_parameter("brightness", severity, strength) * (reference.high - reference.low)


def occlusion(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """A square of side ``k = min(c_s, 1) S`` pixels at a uniformly random position inside the
    image (the same for every channel), filled with ``low``.

    The square's corners are continuous (``top ~ U[0, H − k]``, ``left ~ U[0, W − k]``), and a
    pixel it covers in part becomes ``(1 − a) x + a low``, ``a`` the share of the pixel covered:
    on an 8×8 image, rounding the side to whole pixels would give two severities the same patch.
    """
    n, _, height, width = x.shape
    side = min(severity_parameter("occlusion", severity, strength), 1.0) * min(height, width)
    top = rng.uniform(0.0, height - side, size=n)
    left = rng.uniform(0.0, width - side, size=n)
    row_cover = _overlap(np.arange(height), top, side)
    column_cover = _overlap(np.arange(width), left, side)
    covered = (row_cover[:, :, None] * column_cover[:, None, :])[:, None, :, :]
    occluded: np.ndarray = (1.0 - covered) * x + covered * reference.low
    return occluded


def _overlap(pixels: np.ndarray, start: np.ndarray, side: float) -> np.ndarray:
    """``[n, P]``: the length of ``[p, p + 1] ∩ [start_n, start_n + side]`` for each pixel ``p``."""
    begin = np.maximum(pixels[None, :], start[:, None])
    end = np.minimum(pixels[None, :] + 1, start[:, None] + side)
    overlap: np.ndarray = np.clip(end - begin, 0.0, 1.0)
    return overlap


# --- Image corruptions: blur ----------------------------------------------------------------


def gaussian_blur(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """Convolution with a Gaussian of sd ``c_s S`` pixels, truncated at 4 sd (edges extended)."""
    sigma = severity_parameter("gaussian_blur", severity, strength) * min(x.shape[2:])
    blurred: np.ndarray = ndimage.gaussian_filter(x, sigma=(0, 0, sigma, sigma), mode="nearest", truncate=4.0)
    return blurred


def motion_blur(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """The mean of ``K = 9`` copies of the image read at offsets ``t (sin θ, cos θ)``, ``t`` evenly
    spaced over ``[−L/2, L/2]``, ``L = c_s S`` pixels, ``θ`` uniform in ``[0, π)`` per image
    (bilinear, edges extended).

    Averaging bilinear reads is a correlation with a kernel: the ``K`` points splatted with
    bilinear weights. It is applied with an FFT on the image padded by its edge pixels (wide
    enough that nothing wraps), so the cost does not grow with ``K`` or ``L``.
    """
    n, _, height, width = x.shape
    length = severity_parameter("motion_blur", severity, strength) * min(height, width)
    angle = rng.uniform(0.0, math.pi, size=n)
    pad = math.ceil(length / 2) + 1
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    rows, columns = padded.shape[2:]
    kernel = np.zeros((n, rows, columns))
    items = np.arange(n)
    for offset in np.linspace(-length / 2, length / 2, MOTION_SAMPLES):
        dy, dx = offset * np.sin(angle), offset * np.cos(angle)
        top, left = np.floor(dy), np.floor(dx)
        for row_step, row_weight in ((0, 1.0 - (dy - top)), (1, dy - top)):
            for column_step, column_weight in ((0, 1.0 - (dx - left)), (1, dx - left)):
                # Negative offsets wrap to the end of the kernel, as circular correlation reads them.
                row = (top.astype(np.int64) + row_step) % rows
                column = (left.astype(np.int64) + column_step) % columns
                kernel[items, row, column] += row_weight * column_weight / MOTION_SAMPLES
    spectrum = np.fft.rfft2(padded) * np.conj(np.fft.rfft2(kernel))[:, None, :, :]
    blurred = np.fft.irfft2(spectrum, s=(rows, columns))
    return blurred[:, :, pad : pad + height, pad : pad + width]


# --- Image corruptions: geometry ------------------------------------------------------------


def translation(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """A shift by ``c_s S`` pixels in a direction drawn uniformly per image (bilinear; the
    uncovered border is ``low``)."""
    n, _, height, width = x.shape
    distance = severity_parameter("translation", severity, strength) * min(height, width)
    angle = rng.uniform(0.0, 2 * math.pi, size=n)
    rows, columns = _grid(n, height, width)
    dy, dx = (distance * np.sin(angle))[:, None, None], (distance * np.cos(angle))[:, None, None]
    return _resample(x, rows - dy, columns - dx, mode="constant", fill=reference.low)


def rotation(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """A rotation about the image centre by ``±c_s`` degrees, the sign drawn per image (bilinear;
    corners are ``low``)."""
    n, _, height, width = x.shape
    degrees = severity_parameter("rotation", severity, strength) * rng.choice(np.array([-1.0, 1.0]), size=n)
    theta = np.radians(degrees)[:, None, None]
    rows, columns = _centred_grid(n, height, width)
    # Each output pixel reads the input at its position rotated back by theta.
    source_rows = np.cos(theta) * rows + np.sin(theta) * columns
    source_columns = -np.sin(theta) * rows + np.cos(theta) * columns
    return _resample(x, source_rows + (height - 1) / 2, source_columns + (width - 1) / 2, "constant", reference.low)


def scale(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """A zoom about the centre by ``z = (1 + c_s)^{±1}``, in or out drawn per image (bilinear;
    what a zoom-out uncovers is ``low``)."""
    n, _, height, width = x.shape
    factor = (1.0 + severity_parameter("scale", severity, strength)) ** rng.choice(np.array([-1.0, 1.0]), size=n)
    rows, columns = _centred_grid(n, height, width)
    zoom = factor[:, None, None]
    return _resample(x, rows / zoom + (height - 1) / 2, columns / zoom + (width - 1) / 2, "constant", reference.low)


def elastic(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """Elastic distortion: pixel ``p`` reads ``x(p + d(p))``, where ``d`` is white noise per image
    smoothed by a Gaussian of sd ``S / 8`` pixels and scaled so its root-mean-square length is
    ``c_s S`` pixels (bilinear, edges extended)."""
    n, _, height, width = x.shape
    size = min(height, width)
    amplitude = severity_parameter("elastic", severity, strength) * size
    noise = rng.standard_normal((n, 2, height, width))
    field = ndimage.gaussian_filter(
        noise, sigma=(0, 0, ELASTIC_SMOOTHNESS * size, ELASTIC_SMOOTHNESS * size), mode="reflect"
    )
    rms = np.sqrt((field**2).sum(axis=1).mean(axis=(1, 2)))
    field *= (amplitude / np.maximum(rms, 1e-12))[:, None, None, None]
    rows, columns = _grid(n, height, width)
    return _resample(x, rows + field[:, 0], columns + field[:, 1], mode="nearest", fill=reference.low)


def _grid(n: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel row and column indices, each broadcastable to ``[n, H, W]``."""
    del n  # The batch axis broadcasts.
    rows = np.arange(height, dtype=np.float64)[None, :, None]
    columns = np.arange(width, dtype=np.float64)[None, None, :]
    return rows, columns


def _centred_grid(n: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    rows, columns = _grid(n, height, width)
    return rows - (height - 1) / 2, columns - (width - 1) / 2


def _resample(x: np.ndarray, rows: np.ndarray, columns: np.ndarray, mode: str, fill: float) -> np.ndarray:
    """``out[n, c, i, j] = x[n, c, rows[n, i, j], columns[n, i, j]]`` by bilinear interpolation.

    The four neighbours of each source point are weighted by ``(1 − |Δr|)(1 − |Δc|)``. A
    neighbour outside the image is the nearest edge pixel (``mode="nearest"``) or ``fill``
    (``mode="constant"``). The same source point serves every channel of an image.
    """
    n, channels, height, width = x.shape
    rows = np.broadcast_to(rows, (n, height, width))
    columns = np.broadcast_to(columns, (n, height, width))
    top, left = np.floor(rows), np.floor(columns)
    down, right = rows - top, columns - left
    flat = x.reshape(n, channels, height * width)
    out = np.zeros_like(x)
    for row_step, row_weight in ((0, 1.0 - down), (1, down)):
        row = top.astype(np.int64) + row_step
        for column_step, column_weight in ((0, 1.0 - right), (1, right)):
            column = left.astype(np.int64) + column_step
            inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
            index = np.clip(row, 0, height - 1) * width + np.clip(column, 0, width - 1)
            values = np.take_along_axis(flat, index.reshape(n, 1, height * width), axis=2).reshape(x.shape)
            if mode == "constant":
                values = np.where(inside[:, None, :, :], values, fill)
            out += (row_weight * column_weight)[:, None, :, :] * values
    return out


# --- Tabular corruptions --------------------------------------------------------------------


def feature_noise(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """``x_f + ε``, ``ε ~ N(0, (c_s σ_f)²)`` per entry, ``σ_f`` the feature's dev-split sd."""
    sd = severity_parameter("feature_noise", severity, strength) * reference.spread
    return x + sd * rng.standard_normal(x.shape)


def missing_features(
    x: np.ndarray, severity: int, rng: np.random.Generator, *, reference: Reference, strength: float
) -> np.ndarray:
    """Each entry independently, with probability ``p = min(c_s, 1)``, replaced by its feature's
    dev-split mean (the usual mean imputation of a missing value)."""
    share = min(severity_parameter("missing_features", severity, strength), 1.0)
    missing = rng.random(x.shape) < share
    return np.where(missing, np.broadcast_to(reference.mean, x.shape), x)


def covariate_shift(
    x: np.ndarray,
    severity: int,
    rng: np.random.Generator,
    *,
    reference: Reference,
    strength: float,
    features: tuple[int, ...] | None = None,
) -> np.ndarray:
    """``x_f + c_s σ_f`` for every chosen feature ``f`` (all by default), no randomness: the
    whole population moves up by ``c_s`` of each chosen feature's dev-split sd."""
    offset = severity_parameter("covariate_shift", severity, strength) * reference.spread
    chosen = np.zeros(x.shape[1], dtype=bool)
    if features is None:
        chosen[:] = True
    else:
        index = np.asarray(features, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= x.shape[1]):
            raise ValueError(f"features must be indices into [0, {x.shape[1] - 1}], got {list(features)}")
        chosen[index] = True
    return x + np.where(chosen, offset, 0.0)


CORRUPTIONS: dict[str, Corruption] = {
    entry.name: entry
    for entry in (
        Corruption("gaussian_noise", "image", gaussian_noise, "Gaussian noise, sd 0.04–0.20 of the range", (0.04, 0.08, 0.12, 0.16, 0.20)),
        Corruption("shot_noise", "image", shot_noise, "Poisson (shot) noise at 60 down to 4 photons per full-range pixel", (1 / 60, 1 / 25, 1 / 12, 1 / 7, 1 / 4)),
        Corruption("impulse_noise", "image", impulse_noise, "Salt-and-pepper noise on 3–27% of the pixels", (0.03, 0.06, 0.09, 0.17, 0.27)),
        Corruption("gaussian_blur", "image", gaussian_blur, "Gaussian blur, sd 2–10% of the image size", (0.02, 0.04, 0.06, 0.08, 0.10)),
        Corruption("motion_blur", "image", motion_blur, "Motion blur along a random direction, 10–50% of the image size long", (0.10, 0.20, 0.30, 0.40, 0.50)),
        Corruption("contrast", "image", contrast, "Contrast reduced by 40–90% towards each image's mean", (0.40, 0.55, 0.70, 0.80, 0.90)),
        Corruption("brightness", "image", brightness, "Brightness raised by 10–50% of the range", (0.10, 0.20, 0.30, 0.40, 0.50)),
        Corruption("occlusion", "image", occlusion, "A random square patch, 10–50% of the image side, set to the range's low end", (0.10, 0.20, 0.30, 0.40, 0.50)),
        Corruption("translation", "image", translation, "Shift in a random direction by 5–25% of the image size", (0.05, 0.10, 0.15, 0.20, 0.25)),
        Corruption("rotation", "image", rotation, "Rotation about the centre by ±10–50 degrees", (10.0, 20.0, 30.0, 40.0, 50.0)),
        Corruption("scale", "image", scale, "Zoom in or out about the centre by a factor 1.15–1.8", (0.15, 0.30, 0.45, 0.60, 0.80)),
        Corruption("elastic", "image", elastic, "Elastic distortion, smooth random displacements of 2–10% of the image size", (0.02, 0.04, 0.06, 0.08, 0.10)),
        Corruption("feature_noise", "tabular", feature_noise, "Gaussian noise, sd 0.1–1 of each feature's dev-split spread", (0.1, 0.25, 0.5, 0.75, 1.0)),
        Corruption("missing_features", "tabular", missing_features, "10–60% of the values missing, filled with the dev-split mean", (0.10, 0.20, 0.30, 0.45, 0.60)),
        Corruption("covariate_shift", "tabular", covariate_shift, "The chosen features shifted up by 0.25–1.5 of their dev-split spread", (0.25, 0.5, 0.75, 1.0, 1.5)),
    )
}  # fmt: skip
