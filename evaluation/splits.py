"""The arrays of a benchmark folder (``dev.npz``, ``test.npz``) and the folder record itself.

Each split is an ``.npz`` archive read with ``allow_pickle=False`` holding:

- ``inputs``: float32 ``[N, *input.shape]``, finite, inside ``input.range``;
- ``labels``: int64 ``[N]`` with values in ``0..len(classes)-1``;
- ``item_ids``: unicode ``[N]``, non-empty and unique (and unique across dev and test);
- metadata columns, each 1-D of length N with a unicode or integer dtype: every column named in
  ``[slices].columns``, the ``[drift].era_column`` when drift is declared, and optionally
  ``cluster`` (the unit the bootstrap resamples). Any other array is rejected.

This module does not parse ``benchmark.toml``; ``evaluation.spec`` does, and hands the parsed
spec in. Errors name the file and the array.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evaluation.errors import SpecError

if TYPE_CHECKING:
    from evaluation.spec import BenchmarkSpec

SPLIT_NAMES = ("dev", "test")
#: The order in which file hashes enter the content hash; changing it changes every identity.
HASHED_FILES = ("benchmark.toml", "dev.npz", "test.npz")
#: Arrays every split must hold; metadata columns may not use these names.
RESERVED_ARRAYS = ("inputs", "labels", "item_ids")
CLUSTER_COLUMN = "cluster"


@dataclass(frozen=True)
class Split:
    """One validated split of a benchmark."""

    inputs: np.ndarray
    """float32 ``[N, *input_shape]``, finite and inside the declared range."""
    labels: np.ndarray
    """int64 ``[N]``, class indices into ``BenchmarkSpec.classes``."""
    item_ids: np.ndarray
    """Unicode ``[N]``, stable identifiers that link items across versions."""
    metadata: dict[str, np.ndarray]
    """Metadata columns by name (slice columns, the era column, ``cluster``), each ``[N]``."""


@dataclass(frozen=True)
class BenchmarkFolder:
    """A validated benchmark version folder and its identity."""

    path: Path
    """The folder holding ``benchmark.toml``, ``dev.npz`` and ``test.npz``."""
    spec: BenchmarkSpec
    """The parsed ``benchmark.toml``."""
    content_hash: str
    """sha256 hex digest identifying this exact version (see ``content_hash``)."""
    file_hashes: dict[str, str]
    """sha256 hex digest of each file in ``HASHED_FILES``."""

    def load_split(self, name: str) -> Split:
        """Read and validate ``dev`` or ``test``; refuses a file changed since loading."""
        if name not in SPLIT_NAMES:
            raise SpecError(f"unknown split {name!r}; a benchmark folder has 'dev' and 'test'")
        filename = f"{name}.npz"
        data = read_folder_file(self.path, filename)
        # Scores must point at the exact bytes the content hash names, so a file swapped after
        # load_benchmark is an error rather than something silently scored.
        if hashlib.sha256(data).hexdigest() != self.file_hashes[filename]:
            raise SpecError(
                f"{filename}: changed since the benchmark folder {self.path} was loaded "
                f"(expected sha256 {self.file_hashes[filename][:12]}...); load the folder again"
            )
        return read_split(data, filename, self.spec)


def content_hash(canonical_spec_json: str, file_hashes: dict[str, str]) -> str:
    """The identity of a benchmark version.

    ``sha256(canonical_spec_json + "\\n" + "".join(f"{name}:{file_hashes[name]}\\n" for name
    in HASHED_FILES))``, with ``HASHED_FILES = ("benchmark.toml", "dev.npz", "test.npz")``.
    """
    digest = hashlib.sha256(canonical_spec_json.encode("utf-8") + b"\n")
    for name in HASHED_FILES:
        digest.update(f"{name}:{file_hashes[name]}\n".encode("ascii"))
    return digest.hexdigest()


def read_folder_file(folder: Path, name: str) -> bytes:
    """The bytes of ``folder / name``; a ``SpecError`` naming the file when it is missing."""
    path = Path(folder) / name
    if not path.is_file():
        raise SpecError(f"{name}: missing from the benchmark folder {folder}")
    return path.read_bytes()


def read_split(data: bytes, filename: str, spec: BenchmarkSpec) -> Split:
    """Parse the bytes of one ``.npz`` split and validate every array against ``spec``."""
    arrays = _read_arrays(data, filename)
    for name in RESERVED_ARRAYS:
        if name not in arrays:
            raise SpecError(f"{filename}: missing array {name!r}")
    required = set(spec.slice_columns) | ({spec.era_column} if spec.era_column else set())
    for name in sorted(required):
        if name not in arrays:
            raise SpecError(f"{filename}: missing metadata column {name!r} declared in benchmark.toml")
    allowed = set(RESERVED_ARRAYS) | required | {CLUSTER_COLUMN}
    for name in arrays:
        if name not in allowed:
            raise SpecError(
                f"{filename}: unknown array {name!r}; a split holds inputs, labels, item_ids, "
                "an optional 'cluster' column and the columns declared in [slices].columns "
                "and [drift].era_column"
            )

    inputs, labels, item_ids = arrays["inputs"], arrays["labels"], arrays["item_ids"]
    expected_shape = tuple(spec.input_shape)
    if inputs.ndim != 1 + len(expected_shape) or inputs.shape[1:] != expected_shape:
        raise SpecError(
            f"{filename}: array 'inputs' must have shape [N, {', '.join(map(str, expected_shape))}], "
            f"got {list(inputs.shape)}"
        )
    n_items = inputs.shape[0]
    if n_items == 0:
        raise SpecError(f"{filename}: array 'inputs' holds no items")
    if inputs.dtype != np.float32:
        raise SpecError(f"{filename}: array 'inputs' must be float32, got {inputs.dtype}")
    if not np.isfinite(inputs).all():
        raise SpecError(f"{filename}: array 'inputs' holds NaN or infinite values")
    lo, hi = spec.input_range
    low, high = float(inputs.min()), float(inputs.max())
    if low < lo or high > hi:
        raise SpecError(
            f"{filename}: array 'inputs' has values in [{low:g}, {high:g}], outside [input].range [{lo:g}, {hi:g}]"
        )

    if labels.dtype != np.int64 or labels.shape != (n_items,):
        raise SpecError(
            f"{filename}: array 'labels' must be int64 of shape [{n_items}], got "
            f"{labels.dtype} of shape {list(labels.shape)}"
        )
    if labels.min() < 0 or labels.max() >= len(spec.classes):
        raise SpecError(
            f"{filename}: array 'labels' must lie in [0, {len(spec.classes) - 1}] (one per "
            f"class), got values from {labels.min()} to {labels.max()}"
        )

    if item_ids.dtype.kind != "U" or item_ids.shape != (n_items,):
        raise SpecError(
            f"{filename}: array 'item_ids' must be unicode strings of shape [{n_items}], got "
            f"{item_ids.dtype} of shape {list(item_ids.shape)}"
        )
    if (np.char.str_len(item_ids) == 0).any():
        raise SpecError(f"{filename}: array 'item_ids' holds an empty string")
    unique, counts = np.unique(item_ids, return_counts=True)
    if len(unique) != n_items:
        raise SpecError(f"{filename}: array 'item_ids' repeats {str(unique[counts > 1][0])!r}")

    metadata = {name: arrays[name] for name in arrays if name not in RESERVED_ARRAYS}
    for name, column in metadata.items():
        if column.shape != (n_items,) or column.dtype.kind not in "Uiu":
            raise SpecError(
                f"{filename}: metadata column {name!r} must be 1-D of length {n_items} with a "
                f"unicode or integer dtype, got {column.dtype} of shape {list(column.shape)}"
            )
    if spec.era_column is not None:
        eras = metadata[spec.era_column].astype(str)
        unknown = sorted(set(eras.tolist()) - set(spec.era_order))
        if unknown:
            raise SpecError(
                f"{filename}: era column {spec.era_column!r} holds {unknown[0]!r}, which is not "
                f"in [drift].order {list(spec.era_order)}"
            )
    return Split(inputs=inputs, labels=labels, item_ids=item_ids, metadata=metadata)


def check_cross_split(dev: Split, test: Split, spec: BenchmarkSpec) -> None:
    """Rules that involve both splits: disjoint item ids, a consistent cluster column, and
    every declared era present in the hidden split (drift is measured there)."""
    shared = np.intersect1d(dev.item_ids, test.item_ids)
    if len(shared):
        raise SpecError(
            f"dev.npz, test.npz: array 'item_ids' must not overlap between the splits; "
            f"{len(shared)} ids appear in both, e.g. {str(shared[0])!r}"
        )
    if (CLUSTER_COLUMN in dev.metadata) != (CLUSTER_COLUMN in test.metadata):
        having = "dev.npz" if CLUSTER_COLUMN in dev.metadata else "test.npz"
        raise SpecError(
            f"dev.npz, test.npz: metadata column 'cluster' is only in {having}; "
            "give both splits a cluster column or neither"
        )
    if spec.era_column is not None:
        present = set(test.metadata[spec.era_column].astype(str).tolist())
        missing = [era for era in spec.era_order if era not in present]
        if missing:
            raise SpecError(
                f"test.npz: era column {spec.era_column!r} has no item of era {missing[0]!r} listed in [drift].order"
            )


def _read_arrays(data: bytes, filename: str) -> dict[str, np.ndarray]:
    # A plain .npy file or a pickle would also load through np.load; only a zip archive is
    # an .npz, so check the signature first and give a precise message.
    if not data.startswith(b"PK"):
        raise SpecError(f"{filename}: not an .npz archive (write it with numpy.savez)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            for name in archive.files:
                try:
                    value = archive[name]
                except ValueError as error:
                    # numpy refuses object arrays when pickles are not allowed.
                    if "pickle" in str(error):
                        raise SpecError(
                            f"{filename}: array {name!r} holds Python objects, which are never "
                            "unpickled; store strings as a unicode array"
                        ) from None
                    raise SpecError(f"{filename}: array {name!r} is not a valid .npy array ({error})") from None
                if not isinstance(value, np.ndarray):
                    raise SpecError(f"{filename}: member {name!r} is not a .npy array")
                arrays[name] = value
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise SpecError(f"{filename}: not a readable .npz archive ({error})") from None
    return arrays
