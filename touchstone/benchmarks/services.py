"""Publishing benchmark versions from folders."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from django.db import transaction

from evaluation.errors import SpecError
from evaluation.perturbed import PerturbedSuite, suite_root
from evaluation.spec import load_benchmark
from touchstone.benchmarks.models import Benchmark, BenchmarkVersion
from touchstone.storage import copy_folder_atomically, private_path


def publish_benchmark(*, folder: Path) -> BenchmarkVersion:
    """Validate a benchmark folder, copy it into private storage and publish it.

    The corrupted copies of the hidden split that the spec's suite declares are generated into
    the private copy before the version is published. Raises ``SpecError`` (naming what is
    wrong) for a malformed folder, and when the same
    version number was already published with other content: published versions are
    immutable, so a change needs a new version number.
    """
    loaded = load_benchmark(Path(folder))
    spec = loaded.spec
    raw_spec = tomllib.loads((Path(folder) / "benchmark.toml").read_text(encoding="utf-8"))
    existing = BenchmarkVersion.objects.filter(content_hash=loaded.content_hash).first()
    if existing is not None:
        raise SpecError(f"this exact content is already published as {existing} (hash {loaded.content_hash[:12]})")
    if BenchmarkVersion.objects.filter(benchmark__slug=spec.slug, version=spec.version).exists():
        raise SpecError(
            f"{spec.slug} {spec.version} is already published with different content; published "
            "versions are immutable, so give the changed folder a new version number"
        )
    relative = f"benchmarks/{spec.slug}/{spec.version}-{loaded.content_hash[:12]}"
    copy_folder_atomically(Path(folder), relative)
    try:
        if spec.perturbations:
            # The corrupted copies of the hidden split are made once, here, from seeds derived from
            # the content hash, and every evaluation reads them back against their checksums.
            PerturbedSuite.ensure(suite_root(private_path(relative)), load_benchmark(private_path(relative)), "test")
        with transaction.atomic():
            benchmark, _ = Benchmark.objects.get_or_create(
                slug=spec.slug, defaults={"title": spec.title, "description": spec.description}
            )
            # The benchmark's title and description follow its newest version.
            benchmark.title, benchmark.description = spec.title, spec.description
            benchmark.save(update_fields=["title", "description"])
            version = BenchmarkVersion.objects.create(
                benchmark=benchmark,
                version=spec.version,
                title=spec.title,
                description=spec.description,
                spec=raw_spec,
                content_hash=loaded.content_hash,
                file_hashes=dict(loaded.file_hashes),
                changelog=spec.changelog,
                storage_path=relative,
                n_dev_items=int(loaded.load_split("dev").labels.shape[0]),
                n_test_items=int(loaded.load_split("test").labels.shape[0]),
            )
            version.publish()
    except BaseException:
        shutil.rmtree(private_path(relative), ignore_errors=True)
        raise
    return version
