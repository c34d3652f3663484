"""Folders for a benchmark's next version, made from the shipped digits folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from evaluation.spec import load_benchmark
from evaluation.version_diff import npz_bytes


def next_folder(
    digits_folder: Path,
    destination: Path,
    *,
    version: str = "1.1.0",
    changelog: str = "Relabelled one item.",
    relabel: str | None = None,
) -> Path:
    """A copy of digits numbered ``version`` with ``changelog``, and ``relabel``'s label moved on by one."""
    shutil.copytree(digits_folder, destination, ignore=shutil.ignore_patterns("perturbed"))
    spec = (destination / "benchmark.toml").read_text(encoding="utf-8")
    spec = spec.replace('version = "1.0.0"', f'version = "{version}"', 1)
    spec = spec.replace('changelog = "First version."', f"changelog = {changelog!r}".replace("'", '"'), 1)
    (destination / "benchmark.toml").write_text(spec, encoding="utf-8")
    if relabel is not None:
        test = load_benchmark(destination).load_split("test")
        arrays = {"inputs": test.inputs, "labels": test.labels.copy(), "item_ids": test.item_ids, **test.metadata}
        index = list(map(str, test.item_ids)).index(relabel)
        arrays["labels"][index] = (arrays["labels"][index] + 1) % 10
        (destination / "test.npz").write_bytes(npz_bytes(arrays))
    return destination


def stored_files(root: Path) -> set[str]:
    """Every file under private storage, relative to it."""
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def hidden_ids(version) -> set[str]:
    return {str(item) for item in load_benchmark(version.folder).load_split("test").item_ids}


def dev_ids(version) -> set[str]:
    return {str(item) for item in load_benchmark(version.folder).load_split("dev").item_ids}


def first_unrevealed(version) -> str:
    """A hidden item of ``version`` in its feedback part (never revealed per item)."""
    from evaluation.version_diff import revealed_item_ids

    folder = load_benchmark(version.folder)
    revealed = revealed_item_ids(folder)
    return next(str(item) for item in np.sort(folder.load_split("test").item_ids) if str(item) not in revealed)
