"""Provenance records: everything needed to reproduce a score."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

from evaluation import EVALUATOR_VERSION

PACKAGES = ("numpy", "scipy", "torch")


def evaluator_revision() -> str:
    """The git revision of the evaluation code, or ``"unknown"`` outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        completed = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return completed.stdout.strip() if completed.returncode == 0 else "unknown"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def predictions_hash(probabilities: np.ndarray) -> str:
    """sha256 of the float32 probabilities in C order: equal hashes mean equal predictions."""
    return hashlib.sha256(np.ascontiguousarray(probabilities, dtype=np.float32).tobytes()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_provenance(
    *,
    model_sha256: str,
    benchmark_slug: str,
    benchmark_version: str,
    content_hash: str,
    file_hashes: dict[str, str],
    split: str,
    seeds: dict[str, int],
    timings: dict[str, float],
    sandbox: dict,
    prediction_sha256: str,
) -> dict:
    """A JSON-serialisable record of the artifact, the data, the code and the machine."""
    return {
        "artifact": {"sha256": model_sha256},
        "benchmark": {
            "slug": benchmark_slug,
            "version": benchmark_version,
            "content_hash": content_hash,
            "file_hashes": dict(file_hashes),
            "split": split,
        },
        "evaluator": {"version": EVALUATOR_VERSION, "revision": evaluator_revision()},
        "packages": package_versions(),
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "python_executable": sys.executable,
        },
        "seeds": dict(seeds),
        "timings": dict(timings),
        "sandbox": dict(sandbox),
        "predictions_sha256": prediction_sha256,
    }
