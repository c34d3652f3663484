"""A second version of digits, published from a copy of the first with a new version number."""

from __future__ import annotations

import shutil
from pathlib import Path

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.benchmarks.services import publish_benchmark


def changed_folder(digits_folder: Path, target: Path, number: str = "1.1.0") -> Path:
    """A copy of the digits folder under version ``number``, with its own changelog."""
    shutil.copytree(digits_folder, target)
    spec = (target / "benchmark.toml").read_text(encoding="utf-8")
    spec = spec.replace('version = "1.0.0"', f'version = "{number}"', 1)
    spec = spec.replace('changelog = "First version."', f'changelog = "Version {number}."', 1)
    (target / "benchmark.toml").write_text(spec, encoding="utf-8")
    return target


def publish_next(digits_folder: Path, target: Path, number: str = "1.1.0") -> BenchmarkVersion:
    """Publish the next version of digits; its receivers run as its transaction commits."""
    return publish_benchmark(folder=changed_folder(digits_folder, target, number))
