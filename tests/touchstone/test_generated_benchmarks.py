"""The site's benchmark secret and what version pages say about where a hidden split comes from."""

from __future__ import annotations

import io
import shutil
import stat

from django.test import Client

from catalog.secret import read_secret
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.benchmarks.services import publish_benchmark
from touchstone.front.management.commands.setup_site import Command, site_benchmark_secret


def test_setup_site_creates_the_secret_under_private_storage_once_and_reuses_it(settings, private_storage):
    path = private_storage / "benchmark-secret"
    assert not path.exists()
    secret = site_benchmark_secret()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_secret(path) == secret
    assert site_benchmark_secret() == secret
    # The secret lives outside everything the site serves.
    for served in (settings.MEDIA_ROOT, settings.STATIC_ROOT):
        assert not path.resolve().is_relative_to(served.resolve())


def test_a_public_data_version_says_its_hidden_split_can_be_rebuilt(version):
    assert version.public_source is True
    page = Client().get(version.get_absolute_url()).content.decode()
    assert 'id="public-source"' in page and "This hidden split can be derived from public data" in page


def test_a_version_without_public_source_shows_no_such_note(db, digits_folder, tmp_path):
    folder = tmp_path / "digits"
    shutil.copytree(digits_folder, folder, ignore=shutil.ignore_patterns("perturbed"))
    spec = (folder / "benchmark.toml").read_text(encoding="utf-8")
    assert "public_source = true\n" in spec
    (folder / "benchmark.toml").write_text(spec.replace("public_source = true\n", ""), encoding="utf-8")
    version = publish_benchmark(folder=folder)
    assert version.public_source is False
    page = Client().get(version.get_absolute_url()).content.decode()
    assert 'id="public-source"' not in page
    assert "This hidden split can be derived from public data" not in page


def test_a_site_set_up_by_an_earlier_release_keeps_its_published_version(db, digits_folder, tmp_path):
    # The same slug and version number with other content, as an earlier release built it.
    earlier_folder = tmp_path / "earlier"
    shutil.copytree(digits_folder, earlier_folder, ignore=shutil.ignore_patterns("perturbed"))
    spec = earlier_folder / "benchmark.toml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("Classify 1,797", "Classify the 1,797"), encoding="utf-8")
    earlier = publish_benchmark(folder=earlier_folder)
    command = Command(stdout=io.StringIO())
    assert command._published(digits_folder) == earlier
    message = command.stdout._out.getvalue()
    assert "already published from an earlier build" in message and "new version number" in message
    assert BenchmarkVersion.objects.count() == 1
