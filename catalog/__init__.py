"""The benchmarks Touchstone ships with, each built deterministically from installed packages.

``BUILDERS`` maps a benchmark slug to a function ``build(folder) -> BenchmarkFolder`` that
writes that benchmark's version folder (``benchmark.toml``, ``dev.npz``, ``test.npz``) into
``folder`` and returns it validated. Building twice gives byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from catalog import digits, mnist, seattle_weather
from evaluation.spec import BenchmarkFolder

BUILDERS: dict[str, Callable[[Path], BenchmarkFolder]] = {
    "digits": digits.build,
    "mnist": mnist.build,
    "seattle-weather": seattle_weather.build,
}


def build_catalog(out_dir: Path, only: str | None = None) -> list[BenchmarkFolder]:
    """Build every shipped benchmark (or just ``only``) into ``out_dir/<slug>/``."""
    if only is not None and only not in BUILDERS:
        raise KeyError(f"unknown benchmark {only!r}; the catalog has {', '.join(BUILDERS)}")
    slugs = [only] if only is not None else list(BUILDERS)
    return [BUILDERS[slug](Path(out_dir) / slug) for slug in slugs]
