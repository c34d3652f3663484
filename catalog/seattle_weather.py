"""``seattle-weather``: daily weather type in Seattle, 2012–2015, from vega_datasets.

Days next to each other are strongly correlated, so the split and the bootstrap both work on
weeks: each calendar week (days 1–7, 8–14, … of a year) is one ``cluster``, and whole weeks go
to the dev or the test split, 40% of each year's weeks to dev. Every year therefore appears in
both splits, which the drift breakdown (one era per year) needs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from catalog.folder import (
    ALL_METRICS,
    DEV_FRACTION,
    FIRST_VERSION,
    PUBLIC_SOURCE_DESCRIPTION,
    hash_rank,
    write_benchmark,
)
from evaluation.spec import BenchmarkFolder

SLUG = "seattle-weather"
CLASSES = ["drizzle", "fog", "rain", "snow", "sun"]
YEARS = ["2012", "2013", "2014", "2015"]
FEATURES = ("log1p_precipitation", "temp_max", "temp_min", "wind", "day_of_year_sin", "day_of_year_cos")
#: Standardised features are clipped here; the range is declared in benchmark.toml.
CLIP = 5.0
SEASONS = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring",
           6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"}  # fmt: skip

#: Multipliers of each corruption's severity parameter, chosen with ``python -m catalog
#: calibrate seattle-weather`` so that severity 1 is mild and 5 is hard for the MLP.
STRENGTHS = {"feature_noise": 1.0, "missing_features": 0.7, "covariate_shift": 0.6}

DOCUMENT = {
    "slug": SLUG,
    "version": FIRST_VERSION,
    "title": "Seattle daily weather",
    "description": (
        "Predict the day's weather type (drizzle, fog, rain, snow or sun) in Seattle from its "
        "measurements, for 1,461 days from 2012 to 2015. The six input features are, in order: "
        "log(1 + precipitation in mm), maximum and minimum temperature (°C), mean wind speed "
        "(m/s), and the sine and cosine of the day of the year; each is standardised with the "
        "dev split's mean and standard deviation and clipped to [-5, 5]. Whole calendar weeks "
        "go to one split (40% of each year's weeks to the public dev split, by sha256 of the "
        "slug and week), and the bootstrap resamples weeks because neighbouring days are "
        "correlated. The label distribution drifts strongly between years (most labelled days "
        "of 2012 are rain, while 2014 and 2015 have many fog days and almost no rain), so the "
        "per-year 'era' breakdown shows how much a model leans on one period's conventions. "
        "The 'season' slice groups days by meteorological season. The robustness suite "
        "corrupts the hidden inputs in three ways, each at severities 1 to 5 calibrated on "
        "the MLP baseline: Gaussian noise scaled by each feature's dev-split spread, values "
        "missing and filled with the dev-split mean, and a shift of every feature by a "
        "multiple of its spread; the corrupted copies are generated once per version from "
        "seeds derived from its content hash. An FGSM attack at L∞ budgets 0.1 and 0.3 "
        "completes it. " + PUBLIC_SOURCE_DESCRIPTION
    ),
    "license": "Public domain (NOAA data); packaged by vega-datasets under the BSD 3-Clause license",
    "source": (
        "NOAA daily observations for Seattle, as prepared in vega-datasets (seattle-weather.csv, "
        "https://github.com/vega/vega-datasets); read from the copy bundled with the Python "
        "package vega_datasets"
    ),
    "task": "classification",
    "classes": CLASSES,
    "changelog": "First version.",
    "input": {"shape": [len(FEATURES)], "dtype": "float32", "range": [-CLIP, CLIP]},
    "metrics": {"primary": "accuracy", "report": ALL_METRICS},
    "slices": {"columns": ["season"]},
    "drift": {"era_column": "era", "order": YEARS},
    "hidden": {"feedback_fraction": 0.3, "public_source": True},
    "perturbations": [
        {"name": "feature_noise", "severities": [1, 2, 3, 4, 5], "strength": STRENGTHS["feature_noise"]},
        {"name": "missing_features", "severities": [1, 2, 3, 4, 5], "strength": STRENGTHS["missing_features"]},
        {"name": "covariate_shift", "severities": [1, 2, 3, 4, 5], "strength": STRENGTHS["covariate_shift"]},
        {"name": "fgsm", "eps": [0.1, 0.3]},
    ],
    "datasheet": {
        "citation": "Vega datasets: seattle-weather.csv, NOAA daily observations for Seattle. https://github.com/vega/vega-datasets",
        "source_url": "https://github.com/vega/vega-datasets",
        "collection": (
            "Daily precipitation, maximum and minimum temperature and mean wind speed measured in Seattle "
            "from 2012 to 2015 (NOAA), with a weather type for each day, as prepared in vega-datasets; "
            "this site has no record of how the weather types were assigned. Whole calendar weeks go to "
            "one split, 40% of each year's weeks to dev."
        ),
        "known_issues": [
            "The weather types drift strongly between years (most labelled days of 2012 are rain, 2014 "
            "and 2015 have many fog days and almost no rain), more than Seattle's weather plausibly did: "
            "the labelling convention probably changed.",
            "Snow and drizzle days are rare, so their recall has wide intervals.",
        ],
    },
}


def build(folder: Path) -> BenchmarkFolder:
    """Write the ``seattle-weather`` version folder into ``folder`` and return it validated."""
    from vega_datasets import local_data

    frame = local_data.seattle_weather()
    dates = frame["date"].to_numpy().astype("datetime64[D]")
    years = dates.astype("datetime64[Y]")
    day_of_year = (dates - years).astype(np.int64) + 1
    months = (dates.astype("datetime64[M]") - years).astype(np.int64) + 1
    year_names = (years.astype(np.int64) + 1970).astype(str)
    labels = np.array([CLASSES.index(value) for value in frame["weather"]], dtype=np.int64)
    item_ids = np.array([f"seattle-{day}" for day in dates.astype(str)])
    weeks = np.array([f"{year}-w{(day - 1) // 7 + 1:02d}" for year, day in zip(year_names, day_of_year, strict=True)])
    seasons = np.array([SEASONS[int(month)] for month in months])

    # Python's math functions give the same bits everywhere; numpy may pick a SIMD kernel per CPU.
    angle = [2.0 * math.pi * (day - 1) / 365.25 for day in day_of_year.tolist()]
    raw = np.column_stack(
        [
            [math.log1p(value) for value in frame["precipitation"].tolist()],
            frame["temp_max"].to_numpy(dtype=np.float64),
            frame["temp_min"].to_numpy(dtype=np.float64),
            frame["wind"].to_numpy(dtype=np.float64),
            [math.sin(value) for value in angle],
            [math.cos(value) for value in angle],
        ]
    )

    in_dev = np.zeros(len(labels), dtype=bool)
    for year in YEARS:
        year_weeks = sorted(set(weeks[year_names == year].tolist()), key=lambda week: hash_rank(week, SLUG))
        in_dev |= np.isin(weeks, year_weeks[: round(DEV_FRACTION * len(year_weeks))])
    dev, test = np.flatnonzero(in_dev), np.flatnonzero(~in_dev)
    inputs = standardise(raw, raw[dev]).astype(np.float32)

    def arrays(index: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "inputs": inputs[index],
            "labels": labels[index],
            "item_ids": item_ids[index],
            "era": year_names[index],
            "season": seasons[index],
            "cluster": weeks[index],
        }

    return write_benchmark(folder, DOCUMENT, arrays(dev), arrays(test))


def standardise(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``clip((x - mean) / std, -5, 5)`` per column, with mean and std of ``reference``.

    ``math.fsum`` makes the statistics exactly rounded, so they do not depend on the order in
    which a numpy build happens to add numbers up.
    """
    result = np.empty_like(values)
    for column in range(values.shape[1]):
        sample = reference[:, column].tolist()
        mean = math.fsum(sample) / len(sample)
        std = math.sqrt(math.fsum((value - mean) ** 2 for value in sample) / len(sample))
        result[:, column] = (values[:, column] - mean) / std
    return np.clip(result, -CLIP, CLIP)
