"""Perturbed copies of a hidden split, generated once per version and stored with checksums.

Every submission to a version is scored on the same corrupted inputs: ``PerturbedSuite.ensure``
generates each condition (corruption × severity) of the spec's non-adversarial suite once, from
the seed ``derive_seed(content_hash, "perturbation", split, name, str(severity))``, and stores
it as ``<root>/<split>/<name>-<severity>.npy`` beside a ``manifest.json``::

    {"content_hash": ..., "split": "test",
     "files": {"gaussian_noise-1": {"file": "gaussian_noise-1.npy", "sha256": ..., "seed": ...}, ...}}

``load`` hands a condition's array back only after checking the file's sha256 against the
manifest, so a stored file changed or truncated after generation is refused rather than scored.
The files are never regenerated behind a maintainer's back: a mismatch is an error that says to
delete the folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from evaluation.corruptions import Reference, corrupt
from evaluation.errors import PerturbedInputError
from evaluation.seeds import derive_seed
from evaluation.spec import BenchmarkSpec, PerturbationSpec, Split

__all__ = ["MANIFEST", "Condition", "PerturbedSuite", "condition_seed", "conditions", "suite_root"]

MANIFEST = "manifest.json"
_LOCK = ".lock"


@dataclass(frozen=True, order=True)
class Condition:
    """One corruption at one severity, as the spec names it."""

    name: str
    """The ``[[perturbations]].name`` (older spellings such as ``blur`` are kept as declared)."""
    severity: int
    """1 (mild) to 5 (hard)."""

    @property
    def key(self) -> str:
        """``<name>-<severity>``: the condition's name in the manifest, in files and in outcomes."""
        return f"{self.name}-{self.severity}"


def conditions(spec: BenchmarkSpec) -> list[Condition]:
    """The non-adversarial suite: declaration order, each corruption's severities ascending."""
    return [
        Condition(perturbation.name, severity)
        for perturbation in spec.perturbations
        if not perturbation.adversarial
        for severity in perturbation.severities
    ]


def condition_seed(content_hash: str, split: str, condition: Condition) -> int:
    """``derive_seed(content_hash, "perturbation", split, name, str(severity))``."""
    return derive_seed(content_hash, "perturbation", split, condition.name, str(condition.severity))


def suite_root(folder: Path) -> Path:
    """Where a version folder's perturbed inputs live: ``<folder>/perturbed``."""
    return folder / "perturbed"


class SplitSource(Protocol):
    """What generating a split's copies reads: a version folder, or the public files of its dev split."""

    @property
    def spec(self) -> BenchmarkSpec: ...

    @property
    def content_hash(self) -> str: ...

    def load_split(self, name: str) -> Split: ...


class PerturbedSuite:
    """The stored perturbed copies of one split of one version."""

    def __init__(
        self, directory: Path, content_hash: str, split: str, files: dict[str, dict[str, Any]], spec: BenchmarkSpec
    ) -> None:
        self.directory = directory
        """``<root>/<split>``, holding the ``.npy`` files and ``manifest.json``."""
        self.content_hash = content_hash
        """The version the files belong to."""
        self.split = split
        """``dev`` or ``test``."""
        self._files = files
        self._conditions = conditions(spec)

    @classmethod
    def ensure(cls, root: Path, benchmark: SplitSource, split: str) -> PerturbedSuite:
        """Generate every missing condition into ``root/<split>/`` (atomically: temp file + rename, safe when two
        workers race), with ``manifest.json`` = {"content_hash", "split", "files": {key: {"file", "sha256", "seed"}}};
        a manifest of another content hash is an error, never silently reused."""
        directory = Path(root) / split
        directory.mkdir(parents=True, exist_ok=True)
        spec = benchmark.spec
        # One worker generates at a time; a second one waiting on the lock then finds the files
        # in the manifest and generates nothing.
        with _locked(directory / _LOCK):
            files = _read_manifest(directory, benchmark.content_hash, split)
            missing = [condition for condition in conditions(spec) if condition.key not in files]
            if missing:
                inputs = benchmark.load_split(split).inputs
                reference = Reference.from_dev(spec, benchmark.load_split("dev").inputs)
                declared = {perturbation.name: perturbation for perturbation in spec.perturbations}
                for condition in missing:
                    seed = condition_seed(benchmark.content_hash, split, condition)
                    array = _generate(inputs, condition, declared[condition.name], seed, reference)
                    data = _npy_bytes(array)
                    filename = f"{condition.key}.npy"
                    _write_atomically(directory / filename, data)
                    files[condition.key] = {"file": filename, "sha256": hashlib.sha256(data).hexdigest(), "seed": seed}
                    # The manifest is rewritten after every file, so an interrupted run keeps
                    # what it finished.
                    _write_manifest(directory, benchmark.content_hash, split, files)
        return cls(directory, benchmark.content_hash, split, files, spec)

    @property
    def conditions(self) -> list[Condition]:
        """The suite's conditions in the spec's order (see ``conditions``)."""
        return list(self._conditions)

    def load(self, condition: Condition) -> np.ndarray:
        """The stored float32 array, after checking its sha256 against the manifest (PerturbedInputError naming
        the file and saying to delete the folder to regenerate it, on mismatch or absence)."""
        remedy = f"delete the folder {self.directory} to regenerate the perturbed inputs"
        entry = self._files.get(condition.key)
        if entry is None:
            raise PerturbedInputError(f"{self.directory / MANIFEST}: no entry for {condition.key!r}; {remedy}")
        path = self.directory / str(entry["file"])
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise PerturbedInputError(f"{path}: missing although the manifest lists it; {remedy}") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            raise PerturbedInputError(
                f"{path}: sha256 {digest[:12]}... does not match the manifest's {str(entry['sha256'])[:12]}... "
                f"(the file was changed after it was generated); {remedy}"
            )
        array = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(array, np.ndarray) or array.dtype != np.float32:
            raise PerturbedInputError(f"{path}: not a float32 array; {remedy}")
        return array


def _generate(
    inputs: np.ndarray, condition: Condition, declared: PerturbationSpec, seed: int, reference: Reference
) -> np.ndarray:
    strength = 1.0 if declared.strength is None else declared.strength
    rng = np.random.default_rng(seed)
    return corrupt(
        condition.name,
        inputs,
        condition.severity,
        rng,
        reference=reference,
        strength=strength,
        features=declared.features,
    )


def _npy_bytes(array: np.ndarray) -> bytes:
    """The ``.npy`` (format 1.0, little-endian, C order) bytes of ``array``."""
    buffer = io.BytesIO()
    canonical = np.ascontiguousarray(array, dtype=np.dtype("<f4"))
    np.lib.format.write_array(buffer, canonical, version=(1, 0), allow_pickle=False)
    return buffer.getvalue()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``.

    A reader therefore sees either the old file or the whole new one, never a partial write.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_manifest(directory: Path, content_hash: str, split: str, files: dict[str, dict[str, Any]]) -> None:
    document = {"content_hash": content_hash, "split": split, "files": files}
    _write_atomically(directory / MANIFEST, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def _read_manifest(directory: Path, content_hash: str, split: str) -> dict[str, dict[str, Any]]:
    """The manifest's ``files``, empty when there is no manifest yet."""
    path = directory / MANIFEST
    if not path.exists():
        return {}
    remedy = f"delete the folder {directory} to regenerate the perturbed inputs"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PerturbedInputError(f"{path}: not valid JSON ({error}); {remedy}") from None
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(entry, dict) and {"file", "sha256", "seed"} <= set(entry) for entry in files.values()
    ):
        raise PerturbedInputError(
            f"{path}: not a perturbed-inputs manifest (needs 'files' with file, sha256, seed); {remedy}"
        )
    if document.get("content_hash") != content_hash:
        raise PerturbedInputError(
            f"{path}: belongs to the version with content hash {str(document.get('content_hash'))[:12]}..., "
            f"not {content_hash[:12]}...; perturbed inputs are never reused across versions, {remedy}"
        )
    if document.get("split") != split:
        raise PerturbedInputError(f"{path}: is for split {document.get('split')!r}, not {split!r}; {remedy}")
    return files


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the block."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
