"""Writing benchmark version folders byte for byte the same on every run.

``numpy.savez`` stamps the current time into each zip entry, so two builds of the same data would
hash differently. ``write_npz`` writes the archive itself: fixed member order, a fixed 1980-01-01
timestamp, fixed permissions, ``.npy`` format 1.0, little-endian C-order arrays, and no
compression (deflate output depends on the zlib build, and some systems ship zlib-ng, so
compressed bytes would differ between machines).

Random choices (which items go to the public dev split) come from sha256 of the slug and the
item's id rather than from a numpy generator, whose streams numpy does not promise to keep
stable across releases.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.spec import BenchmarkFolder, load_benchmark

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
#: Share of each class (or each year's weeks) that goes to the public dev split.
DEV_FRACTION = 0.4
FIRST_VERSION = "1.0.0"
ALL_METRICS = ["accuracy", "macro_f1", "nll", "brier", "ece", "ece_equal_mass"]
#: The image corruption suite, in the order the site lists it.
IMAGE_CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "gaussian_blur", "motion_blur", "contrast",
    "brightness", "occlusion", "translation", "rotation", "scale", "elastic",
)  # fmt: skip
ATTACK_EPS = [0.03, 0.1]


#: How the shipped image benchmarks' descriptions state their robustness suite.
IMAGE_SUITE_DESCRIPTION = (
    "The robustness suite corrupts the hidden test images in twelve ways (Gaussian, shot and "
    "impulse noise, Gaussian and motion blur, contrast, brightness, occlusion, translation, "
    "rotation, scale and elastic distortion), each at severities 1 to 5 calibrated so that 1 "
    "costs the small CNN baseline a little and 5 a lot; the corrupted copies are generated "
    "once per version from seeds derived from its content hash. FGSM and PGD attacks at L∞ "
    "budgets 0.03 and 0.1 complete it."
)

#: How the benchmarks built from public data say so (with ``[hidden] public_source = true``).
PUBLIC_SOURCE_DESCRIPTION = (
    "Its hidden split is derived from public data: anyone with the same Python package can "
    "rebuild it byte for byte (python -m catalog build), so a score here cannot show that a "
    "model never saw the test items."
)


def image_perturbations(strengths: dict[str, float]) -> list[dict[str, Any]]:
    """Every image corruption at severities 1–5 with its benchmark's strength, then FGSM and PGD."""
    return [
        *({"name": name, "severities": [1, 2, 3, 4, 5], "strength": strengths[name]} for name in IMAGE_CORRUPTIONS),
        {"name": "fgsm", "eps": ATTACK_EPS},
        {"name": "pgd", "eps": ATTACK_EPS},
    ]


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (in the given order) as an uncompressed, timestamp-free ``.npz``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            if array.dtype.kind not in "fiuU":
                raise TypeError(f"{name}: only numeric and unicode arrays are written, got {array.dtype}")
            canonical = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, canonical, version=(1, 0), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # Unix, whatever the building machine is.
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def toml_text(document: dict[str, Any]) -> str:
    """Render a spec document as TOML: plain keys, then tables, then arrays of tables.

    Only the value types a ``benchmark.toml`` uses are supported (strings, booleans, integers,
    finite floats, and flat lists of those), which keeps the output predictable.
    """
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in document.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            arrays.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables:
        lines += ["", f"[{key}]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
    for key, entries in arrays:
        for entry in entries:
            lines += ["", f"[[{key}]]", *(f"{k} = {_toml_value(v)}" for k, v in entry.items())]
    return "\n".join(lines) + "\n"


def write_benchmark(
    folder: Path,
    document: dict[str, Any],
    dev: dict[str, np.ndarray],
    test: dict[str, np.ndarray],
) -> BenchmarkFolder:
    """Write ``benchmark.toml``, ``dev.npz`` and ``test.npz`` into ``folder`` and validate them.

    Each file is written under a temporary name and renamed, so an interrupted build never
    leaves a half-written file behind under its real name.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / ".benchmark.toml.tmp"
    staged.write_bytes(toml_text(document).encode("utf-8"))
    os.replace(staged, folder / "benchmark.toml")
    for name, arrays in (("dev", dev), ("test", test)):
        staged = folder / f".{name}.npz.tmp"
        write_npz(staged, arrays)
        os.replace(staged, folder / f"{name}.npz")
    return load_benchmark(folder)


def hash_rank(key: str, salt: str) -> str:
    """A sort key that orders items pseudo-randomly but identically on every machine."""
    return hashlib.sha256(f"{salt}\x1f{key}".encode()).hexdigest()


def stratified_split(
    item_ids: Sequence[str], labels: np.ndarray, salt: str, dev_fraction: float = DEV_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ascending) of the dev and test splits, stratified by label.

    Within each class the items are ordered by ``sha256(salt, item_id)`` and the first
    ``round(dev_fraction * n_class)`` go to dev, the rest to test.
    """
    in_dev = np.zeros(len(labels), dtype=bool)
    for value in np.unique(labels):
        members = sorted(np.flatnonzero(labels == value), key=lambda i: hash_rank(item_ids[int(i)], salt))
        in_dev[members[: round(dev_fraction * len(members))]] = True
    return np.flatnonzero(in_dev), np.flatnonzero(~in_dev)


def rank_terciles(values: np.ndarray, names: tuple[str, str, str]) -> np.ndarray:
    """Label each value by its tercile (by rank, ties broken by position) over all items.

    Ranks rather than quantile thresholds give three equal groups even when many values tie.
    """
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(len(values))
    return np.array(names)[ranks * 3 // len(values)]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML spec values must be finite, got {value}")
        return repr(value)
    if isinstance(value, str):
        # JSON string escapes are valid TOML basic-string escapes; DEL is the one character
        # TOML forbids that JSON leaves alone.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to benchmark.toml")
