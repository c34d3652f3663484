"""The benchmarks Touchstone ships with, each built deterministically.

``BUILDERS`` maps the slug of a benchmark built from data in installed packages to a function
``build(folder) -> BenchmarkFolder`` that writes that benchmark's version folder
(``benchmark.toml``, ``dev.npz``, ``test.npz``) into ``folder`` and returns it validated.
Anyone with the same packages can rebuild these, hidden split included; their specs say so
(``[hidden] public_source = true``).

``SECRET_BUILDERS`` maps the slug of a benchmark generated from a site's secret
(``catalog.secret``) to ``build(folder, secret) -> BenchmarkFolder``: only the site holding
the secret can rebuild its hidden split. Building twice with the same inputs gives
byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from catalog import digits, glyphs, mnist, seattle_weather
from catalog.secret import SiteSecretError
from evaluation.spec import BenchmarkFolder

BUILDERS: dict[str, Callable[[Path], BenchmarkFolder]] = {
    "digits": digits.build,
    "mnist": mnist.build,
    "seattle-weather": seattle_weather.build,
}
SECRET_BUILDERS: dict[str, Callable[[Path, bytes], BenchmarkFolder]] = {
    "glyphs": glyphs.build_from_secret,
}
#: Every shipped benchmark, public-data ones first.
SLUGS = (*BUILDERS, *SECRET_BUILDERS)


def build_benchmark(slug: str, folder: Path, secret: bytes | None = None) -> BenchmarkFolder:
    """Build the shipped benchmark ``slug`` into ``folder``; ``secret`` is the site's benchmark
    secret, which the benchmarks of ``SECRET_BUILDERS`` need and the others ignore."""
    if slug in SECRET_BUILDERS:
        if secret is None:
            raise SiteSecretError(
                f"{slug} is generated from a site's benchmark secret, so it cannot be built without "
                "one: pass --secret-file PATH (a site keeps it in var/private/benchmark-secret)"
            )
        return SECRET_BUILDERS[slug](Path(folder), secret)
    if slug not in BUILDERS:
        raise KeyError(f"unknown benchmark {slug!r}; the catalog has {', '.join(SLUGS)}")
    return BUILDERS[slug](Path(folder))


def build_catalog(out_dir: Path, only: str | None = None, secret: bytes | None = None) -> list[BenchmarkFolder]:
    """Build the shipped benchmarks (or just ``only``) into ``out_dir/<slug>/``.

    Without ``secret`` only the public-data benchmarks are built (asking for a secret one with
    ``only`` is a ``SiteSecretError``); with it, every benchmark.
    """
    if only is not None:
        return [build_benchmark(only, Path(out_dir) / only, secret)]
    slugs = SLUGS if secret is not None else tuple(BUILDERS)
    return [build_benchmark(slug, Path(out_dir) / slug, secret) for slug in slugs]
