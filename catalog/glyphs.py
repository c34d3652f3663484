"""``glyphs``: rendered line glyphs with nuisance factors and eras, generated from a secret seed.

Every image is drawn from scratch: one of eight glyphs (circle, square, triangle, cross, bar,
chevron, tee, arc) stroked at a random position, size, angle and stroke width on a background
of random brightness, texture and noise, with a random contrast between ink and background.
Each nuisance factor is drawn in two steps, a level (three per factor, the slice columns) and
then a value inside that level's band, so every slice is a controlled slice of the generator.

Three acquisition eras (``early``, ``middle``, ``late``) shift two factors gradually: later
eras have lower contrast and noisier backgrounds more often, as an ageing sensor would. The
public dev split leans towards the older eras (100, 60 and 40 items per class) while the hidden
test split has 100 items per class in every era, so the drift breakdown shows how a model
trained on the past holds up on the present.

All randomness comes from SHAKE-256 keyed with the seed (``uniforms``), with separate keys for
the dev split, the test split and the item ids, so the published dev images say nothing about
the hidden ones (a numpy generator would not do: its state can be recovered from enough
output). Pixel values are rounded to multiples of 1/255, as an 8-bit image would be, so the
few floating-point steps whose last bit may vary between machines (the background filter)
cannot change the bytes written. The same seed therefore gives the same folder, byte for byte.

The site builds it from its own secret (``catalog.secret``), so no two sites share a hidden
split; ``build(folder, seed=...)`` takes the derived seed, ``build_from_secret`` the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from catalog.folder import ALL_METRICS, FIRST_VERSION, IMAGE_SUITE_DESCRIPTION, image_perturbations, write_benchmark
from catalog.secret import generation_seed
from evaluation.spec import BenchmarkFolder

SLUG = "glyphs"
SIZE = 28
CLASSES = ("circle", "square", "triangle", "cross", "bar", "chevron", "tee", "arc")
ERAS = ("early", "middle", "late")
#: Items per class in each era of each split.
PER_CLASS = {"dev": {"early": 100, "middle": 60, "late": 40}, "test": {"early": 100, "middle": 100, "late": 100}}

#: Each factor's three levels and the band of values each level draws from (pixels, degrees,
#: or intensity on [0, 1]).
BANDS: dict[str, dict[str, tuple[float, float]]] = {
    "scale": {"small": (5.0, 6.5), "medium": (6.5, 8.0), "large": (8.0, 9.5)},
    "stroke": {"thin": (1.0, 1.6), "medium": (1.6, 2.3), "thick": (2.3, 3.0)},
    "rotation": {"upright": (0.0, 10.0), "tilted": (10.0, 20.0), "slanted": (20.0, 30.0)},
    "offset": {"centred": (0.0, 1.25), "near": (1.25, 2.5), "far": (2.5, 3.75)},
    "contrast": {"high": (0.65, 0.85), "medium": (0.4, 0.55), "low": (0.2, 0.3)},
    "background": {"clean": (0.0, 0.0), "textured": (0.06, 0.1), "noisy": (0.06, 0.1)},
}
SLICE_COLUMNS = tuple(BANDS)
#: Probability of each contrast and background level in each era (in the order of BANDS).
ERA_LEVELS = {"early": (0.6, 0.3, 0.1), "middle": (0.35, 0.4, 0.25), "late": (0.15, 0.35, 0.5)}
#: Standard deviation of the per-pixel noise: faint on clean and textured backgrounds.
PIXEL_NOISE = {"clean": (0.015, 0.015), "textured": (0.015, 0.015), "noisy": (0.08, 0.12)}
BACKGROUND_LEVEL = (0.05, 0.2)
TEXTURE_SIGMA = 2.0

#: Multipliers of each corruption's severity parameter, chosen with ``python -m catalog
#: calibrate glyphs`` so that severity 1 is mild and 5 is hard for the small CNN.
STRENGTHS = {
    "gaussian_noise": 1.6,
    "shot_noise": 2.2,
    "impulse_noise": 0.3,
    "gaussian_blur": 1.0,
    "motion_blur": 0.6,
    "contrast": 1.0,
    "brightness": 1.1,
    "occlusion": 1.0,
    "translation": 0.6,
    "rotation": 0.6,
    "scale": 0.8,
    "elastic": 1.4,
}

DOCUMENT = {
    "slug": SLUG,
    "version": FIRST_VERSION,
    "title": "Glyphs (generated from this site's secret)",
    "description": (
        "Classify 28×28 greyscale images of eight stroked glyphs (circle, square, triangle, "
        "cross, bar, chevron, tee, arc), drawn procedurally with random position, size, "
        "rotation, stroke width, contrast and background. Both splits are generated from a "
        "secret seed held by this site alone: nobody, including other Touchstone sites, can "
        "rebuild the hidden test split, so its scores measure models that cannot have seen it. "
        "Six slices record the nuisance factors, each in three levels drawn with equal "
        "probability: 'scale' (glyph radius 5 to 9.5 pixels), 'stroke' (width 1 to 3 pixels), "
        "'rotation' (0 to 30 degrees either way), 'offset' (distance of the glyph's centre from "
        "the image centre, up to 3.75 pixels), 'contrast' (ink over background 0.2 to 0.85) "
        "and 'background' (clean, textured, or textured with pixel noise). Three acquisition "
        "eras (early, middle, late) make low contrast and noisy backgrounds more frequent over "
        "time; the public dev split (1,600 images) leans towards the early era (100, 60 and 40 "
        "images per glyph) while the hidden test split (2,400 images) has 100 per glyph in "
        "every era, so the per-era breakdown shows how a model trained on the past holds up "
        "on the present. Pixels are multiples of 1/255 in [0, 1]. " + IMAGE_SUITE_DESCRIPTION
    ),
    "license": "CC0 1.0 (data generated by this site)",
    "source": (
        "Generated by Touchstone's catalog/glyphs.py from a seed derived from this site's "
        "benchmark secret (HMAC-SHA256), which never leaves the site"
    ),
    "task": "classification",
    "classes": list(CLASSES),
    "changelog": "First version.",
    "input": {"shape": [1, SIZE, SIZE], "dtype": "float32", "range": [0.0, 1.0]},
    "metrics": {"primary": "accuracy", "report": ALL_METRICS},
    "slices": {"columns": list(SLICE_COLUMNS)},
    "drift": {"era_column": "era", "order": list(ERAS)},
    "hidden": {"feedback_fraction": 0.3},
    "perturbations": image_perturbations(STRENGTHS),
    "datasheet": {
        "citation": "Touchstone glyphs benchmark, generated per site by catalog/glyphs.py",
        "collection": (
            "Generated procedurally with numpy and scipy from a seed derived from the site's benchmark "
            "secret: each image strokes one of eight glyphs with random nuisance factors, recorded as its "
            "six slice columns and its era. Labels are exact by construction; nothing was collected from "
            "people."
        ),
        "known_issues": [
            "Every site generates its own hidden split, so scores are comparable only within one site.",
            "The images are synthetic: a score here says little about handwriting or photographs.",
        ],
    },
}


def uniforms(key: bytes, name: str, count: int) -> np.ndarray:
    """``count`` numbers uniform on ``[0, 1)`` from the stream ``SHAKE-256(key ␟ name)``.

    Each number is the top 53 bits of one little-endian 64-bit word of the stream times
    ``2⁻⁵³``, which is exact in float64, so the values are the same on every machine.
    """
    data = hashlib.shake_256(key + b"\x1f" + name.encode("utf-8")).digest(8 * count)
    words = np.frombuffer(data, dtype="<u8")
    values: np.ndarray = (words >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return values


@dataclass(frozen=True)
class Items:
    """One split as drawn: labels, eras, nuisance levels (by slice column) and images, one
    entry per item, in the order the cells were filled (``build`` orders them by item id)."""

    labels: np.ndarray
    eras: np.ndarray
    levels: dict[str, np.ndarray]
    images: np.ndarray


def build(folder: Path, *, seed: bytes) -> BenchmarkFolder:
    """Write the ``glyphs`` version folder generated from ``seed`` into ``folder``."""
    if len(seed) < 16:
        raise ValueError("the glyphs seed must have at least 16 bytes; derive it with catalog.secret.generation_seed")
    splits = {name: draw_split(_key(seed, f"split:{name}"), name) for name in PER_CLASS}
    # Item ids come from one shuffle of both splits, so an id says nothing about an item's
    # split, glyph or era.
    sizes = [len(items.labels) for items in splits.values()]
    ranks = np.argsort(np.argsort(uniforms(_key(seed, "item-ids"), "order", sum(sizes)), kind="stable"))
    numbers = dict(zip(splits, np.split(ranks, np.cumsum(sizes)[:-1]), strict=True))

    def arrays(name: str) -> dict[str, np.ndarray]:
        items, number = splits[name], numbers[name]
        order = np.argsort(number, kind="stable")
        return {
            "inputs": items.images[order],
            "labels": items.labels[order],
            "item_ids": np.array([f"glyphs-{int(value):05d}" for value in number[order]]),
            "era": items.eras[order],
            **{column: items.levels[column][order] for column in SLICE_COLUMNS},
        }

    return write_benchmark(folder, DOCUMENT, arrays("dev"), arrays("test"))


def build_from_secret(folder: Path, secret: bytes) -> BenchmarkFolder:
    """``build`` with the seed this site's ``secret`` derives for ``glyphs`` 1.0.0."""
    return build(folder, seed=generation_seed(secret, SLUG, FIRST_VERSION))


def draw_split(key: bytes, split: str) -> Items:
    """Draw and render every item of ``split`` from the stream keyed by ``key``."""
    cells = [(label, era) for era, count in PER_CLASS[split].items() for label in range(len(CLASSES))]
    counts = [PER_CLASS[split][era] for _, era in cells]
    labels = np.repeat(np.array([label for label, _ in cells], dtype=np.int64), counts)
    eras = np.repeat(np.array([era for _, era in cells]), counts)
    n = len(labels)

    levels: dict[str, np.ndarray] = {}
    values: dict[str, np.ndarray] = {}
    for column, bands in BANDS.items():
        names = np.array(list(bands))
        pick = uniforms(key, f"{column}:level", n)
        if column in ("contrast", "background"):
            # The era sets how likely each level is: a level is the number of cumulative
            # thresholds its uniform number reaches.
            thresholds = np.array([_cumulative(ERA_LEVELS[str(era)]) for era in eras])
            index = (pick[:, None] >= thresholds).sum(axis=1)
        else:
            index = np.minimum((pick * 3).astype(np.int64), 2)
        levels[column] = names[index]
        low = np.array([bands[str(name)][0] for name in names])[index]
        high = np.array([bands[str(name)][1] for name in names])[index]
        values[column] = low + (high - low) * uniforms(key, f"{column}:value", n)

    sign = np.where(uniforms(key, "rotation:sign", n) < 0.5, -1.0, 1.0)
    angle = [math.radians(value) for value in (sign * values["rotation"]).tolist()]
    direction = [2.0 * math.pi * value for value in uniforms(key, "offset:direction", n).tolist()]
    centre = (SIZE - 1) / 2.0
    offset = values["offset"].tolist()
    centre_x = np.array([centre + r * math.cos(phi) for r, phi in zip(offset, direction, strict=True)])
    centre_y = np.array([centre + r * math.sin(phi) for r, phi in zip(offset, direction, strict=True)])
    strokes = render_strokes(
        labels, centre_x, centre_y, values["scale"], np.array([math.cos(a) for a in angle]),
        np.array([math.sin(a) for a in angle]), values["stroke"],
    )  # fmt: skip

    base = _between(BACKGROUND_LEVEL, uniforms(key, "background:base", n))
    texture = uniforms(key, "background:texture", n * SIZE * SIZE).reshape(n, SIZE, SIZE) - 0.5
    texture = ndimage.gaussian_filter(texture, sigma=(0.0, TEXTURE_SIGMA, TEXTURE_SIGMA), mode="reflect")
    texture /= texture.std(axis=(1, 2), keepdims=True)
    # A sum of three uniforms is close to normal and needs no transcendental function.
    noise = uniforms(key, "background:noise", 3 * n * SIZE * SIZE).reshape(3, n, SIZE, SIZE).sum(axis=0) - 1.5
    noise_band = np.array([PIXEL_NOISE[str(level)] for level in levels["background"]])
    noise_sd = _between((noise_band[:, 0], noise_band[:, 1]), uniforms(key, "background:noise-level", n))
    images = (
        base[:, None, None]
        + values["background"][:, None, None] * texture
        + (noise_sd / 0.5)[:, None, None] * noise
        + values["contrast"][:, None, None] * strokes
    )
    # Quantised like an 8-bit scan; rounding also absorbs last-bit differences between machines.
    pixels = np.round(np.clip(images, 0.0, 1.0) * 255.0)
    return Items(labels, eras, levels, (pixels / 255.0).astype(np.float32)[:, None, :, :])


#: Each glyph's line segments in its own frame (unit radius, y up); circle and arc are round.
SEGMENTS: dict[str, list[tuple[tuple[float, float], tuple[float, float]]]] = {
    "square": [((-0.7, -0.7), (0.7, -0.7)), ((0.7, -0.7), (0.7, 0.7)), ((0.7, 0.7), (-0.7, 0.7)),
               ((-0.7, 0.7), (-0.7, -0.7))],
    "triangle": [((0.0, 0.9), (-0.78, -0.45)), ((-0.78, -0.45), (0.78, -0.45)), ((0.78, -0.45), (0.0, 0.9))],
    "cross": [((-0.85, 0.0), (0.85, 0.0)), ((0.0, -0.85), (0.0, 0.85))],
    "bar": [((-0.85, 0.0), (0.85, 0.0))],
    "chevron": [((-0.8, -0.45), (0.0, 0.45)), ((0.0, 0.45), (0.8, -0.45))],
    "tee": [((-0.8, 0.65), (0.8, 0.65)), ((0.0, 0.65), (0.0, -0.85))],
}  # fmt: skip
RING_RADIUS = 0.8
#: The arc is the ring without the part within this angle (degrees) of the +x axis.
ARC_GAP = 50.0


def render_strokes(
    labels: np.ndarray,
    centre_x: np.ndarray,
    centre_y: np.ndarray,
    radius: np.ndarray,
    cos: np.ndarray,
    sin: np.ndarray,
    width: np.ndarray,
) -> np.ndarray:
    """Ink coverage ``[N, SIZE, SIZE]`` in ``[0, 1]`` of each item's glyph.

    A pixel at distance ``d`` (pixels) from the glyph's centre line is covered by
    ``clip(width/2 − d + 1/2, 0, 1)``: fully inside the stroke, a one-pixel ramp at its edge.
    Pixel ``(row, column)`` maps into the glyph's frame by ``x = column − centre_x``,
    ``y = centre_y − row``, rotated by the item's angle and divided by its radius.
    """
    rows, columns = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    x = columns[None] - centre_x[:, None, None]
    y = centre_y[:, None, None] - rows[None]
    c, s, r = cos[:, None, None], sin[:, None, None], radius[:, None, None]
    u = (c * x + s * y) / r
    v = (c * y - s * x) / r
    distance = np.empty_like(u)
    for label, name in enumerate(CLASSES):
        chosen = labels == label
        if chosen.any():
            distance[chosen] = _distance(name, u[chosen], v[chosen])
    coverage: np.ndarray = np.clip(width[:, None, None] / 2.0 - distance * r + 0.5, 0.0, 1.0)
    return coverage


def _distance(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Distance (in glyph radii) from each point to the centre line of glyph ``name``."""
    if name in SEGMENTS:
        return np.minimum.reduce([_segment_distance(u, v, a, b) for a, b in SEGMENTS[name]])
    ring = np.abs(np.sqrt(u * u + v * v) - RING_RADIUS)
    if name == "circle":
        return ring
    # Inside the gap the nearest point of the arc is one of its two ends.
    end_u, end_v = RING_RADIUS * math.cos(math.radians(ARC_GAP)), RING_RADIUS * math.sin(math.radians(ARC_GAP))
    in_gap = (u > 0) & (np.abs(v) < u * math.tan(math.radians(ARC_GAP)))
    to_end = np.sqrt((u - end_u) ** 2 + (np.abs(v) - end_v) ** 2)
    return np.where(in_gap, to_end, ring)


def _segment_distance(u: np.ndarray, v: np.ndarray, a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    du, dv = b[0] - a[0], b[1] - a[1]
    t = np.clip(((u - a[0]) * du + (v - a[1]) * dv) / (du * du + dv * dv), 0.0, 1.0)
    return np.sqrt((u - a[0] - t * du) ** 2 + (v - a[1] - t * dv) ** 2)


def _key(seed: bytes, purpose: str) -> bytes:
    return hmac.new(seed, purpose.encode("utf-8"), hashlib.sha256).digest()


def _cumulative(probabilities: tuple[float, float, float]) -> tuple[float, float]:
    return probabilities[0], probabilities[0] + probabilities[1]


def _between(band: tuple[float | np.ndarray, float | np.ndarray], u: np.ndarray) -> np.ndarray:
    return band[0] + (band[1] - band[0]) * u
