"""``digits``: scikit-learn's 8×8 handwritten digits (the UCI optical digits test set)."""

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

SLUG = "digits"
INK_LEVELS = ("light", "medium", "heavy")

#: Multipliers of each corruption's severity parameter, chosen with ``python -m catalog
#: calibrate digits`` so that severity 1 is mild and 5 is hard for the small CNN.
STRENGTHS = {
    "gaussian_noise": 2.5,
    "shot_noise": 3.0,
    "impulse_noise": 1.5,
    "gaussian_blur": 2.5,
    "motion_blur": 1.5,
    "contrast": 1.0,
    "brightness": 1.3,
    "occlusion": 1.2,
    "translation": 0.7,
    "rotation": 0.6,
    "scale": 0.6,
    "elastic": 1.5,
}

DOCUMENT = {
    "slug": SLUG,
    "version": FIRST_VERSION,
    "title": "Handwritten digits (8×8)",
    "description": (
        "Classify 1,797 handwritten digits scanned at 8×8 pixels with 17 grey levels, as "
        "shipped with scikit-learn. Pixels are divided by 16 so inputs lie in [0, 1]. 40% of "
        "each class forms the public dev split, the remaining 60% the hidden test split "
        "(assignment by sha256 of the slug and item id). The 'ink' slice groups images by the "
        "tercile of their total ink over the whole data set, which separates thin and faint "
        "strokes from bold ones. " + IMAGE_SUITE_DESCRIPTION + " " + PUBLIC_SOURCE_DESCRIPTION
    ),
    "license": "CC BY 4.0",
    "source": (
        "E. Alpaydin and C. Kaynak, Optical Recognition of Handwritten Digits, UCI Machine "
        "Learning Repository, 1998 (https://doi.org/10.24432/C50P49); the copy bundled with "
        "scikit-learn as sklearn.datasets.load_digits"
    ),
    "task": "classification",
    "classes": [str(digit) for digit in range(10)],
    "changelog": "First version.",
    "input": {"shape": [1, 8, 8], "dtype": "float32", "range": [0.0, 1.0]},
    "metrics": {"primary": "accuracy", "report": ALL_METRICS},
    "slices": {"columns": ["ink"]},
    "hidden": {"feedback_fraction": 0.3, "public_source": True},
    "perturbations": image_perturbations(STRENGTHS),
    "datasheet": {
        "citation": (
            "E. Alpaydin and C. Kaynak. Optical Recognition of Handwritten Digits. UCI Machine Learning "
            "Repository, 1998. https://doi.org/10.24432/C50P49"
        ),
        "source_url": "https://doi.org/10.24432/C50P49",
        "collection": (
            "43 people wrote digits on preprinted forms; each 32×32 bitmap was divided into 4×4 blocks and "
            "the pixels set in each block counted, giving 8×8 images with values 0 to 16. scikit-learn "
            "bundles the 1,797 images of the original test set (13 writers); the label is the digit each "
            "writer was asked to write. This benchmark divides the pixels by 16 and splits the images 40/60 "
            "into dev and hidden test, stratified by class."
        ),
        "known_issues": [
            "The writers are not recorded, so images by the same writer fall in both splits: the hidden "
            "split does not measure how a model does on new writers.",
        ],
    },
}


def build(folder: Path) -> BenchmarkFolder:
    """Write the ``digits`` version folder into ``folder`` and return it validated."""
    from sklearn.datasets import load_digits

    dataset = load_digits()
    # The raw pixels are integers 0..16, so dividing by 16 is exact in float32.
    pixels = np.asarray(dataset.images, dtype=np.float64)
    inputs = (pixels / 16.0).astype(np.float32)[:, None, :, :]
    labels = np.asarray(dataset.target, dtype=np.int64)
    item_ids = np.array([f"digits-{index:04d}" for index in range(len(labels))])
    # Integer-valued sums are exact, so the terciles cannot depend on summation order.
    ink = rank_terciles(pixels.sum(axis=(1, 2)), INK_LEVELS)
    dev, test = stratified_split(item_ids.tolist(), labels, salt=SLUG)

    def arrays(index: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "inputs": inputs[index],
            "labels": labels[index],
            "item_ids": item_ids[index],
            "ink": ink[index],
        }

    return write_benchmark(folder, DOCUMENT, arrays(dev), arrays(test))
