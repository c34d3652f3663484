from __future__ import annotations

import re
import shutil

import pytest
from django.core.management import CommandError, call_command

from touchstone.benchmarks.models import BenchmarkVersion, ImmutableVersionError
from touchstone.storage import private_root


def test_it_publishes_a_valid_folder_with_its_content_hash(db, digits_folder, capsys):
    call_command("publish_benchmark", str(digits_folder))
    version = BenchmarkVersion.objects.get(benchmark__slug="digits")
    assert version.status == "published"
    assert version.published_at is not None
    assert len(version.content_hash) == 64
    assert version.content_hash in capsys.readouterr().out
    assert (version.folder / "test.npz").read_bytes() == (digits_folder / "test.npz").read_bytes()
    assert version.n_test_items > 0 and version.n_dev_items > 0


def test_it_refuses_to_publish_the_same_content_twice(db, digits_folder):
    call_command("publish_benchmark", str(digits_folder))
    with pytest.raises(CommandError, match="already published"):
        call_command("publish_benchmark", str(digits_folder))
    assert BenchmarkVersion.objects.count() == 1


def test_it_refuses_changed_content_under_a_published_version_number(db, digits_folder, tmp_path):
    call_command("publish_benchmark", str(digits_folder))
    changed = tmp_path / "digits"
    shutil.copytree(digits_folder, changed)
    spec = (changed / "benchmark.toml").read_text()
    (changed / "benchmark.toml").write_text(spec.replace('title = "', 'title = "Changed ', 1))
    with pytest.raises(CommandError, match="new version number"):
        call_command("publish_benchmark", str(changed))
    assert BenchmarkVersion.objects.count() == 1


def test_it_names_the_unknown_key_and_writes_nothing(db, digits_folder, tmp_path):
    broken = tmp_path / "digits"
    shutil.copytree(digits_folder, broken)
    with open(broken / "benchmark.toml", "a") as spec:
        spec.write('\nmetricz = "accuracy"\n')
    with pytest.raises(CommandError, match="metricz"):
        call_command("publish_benchmark", str(broken))
    assert BenchmarkVersion.objects.count() == 0
    assert not (private_root() / "benchmarks").exists() or not any((private_root() / "benchmarks").rglob("*.npz"))


def test_it_names_a_missing_key(db, digits_folder, tmp_path):
    broken = tmp_path / "digits"
    shutil.copytree(digits_folder, broken)
    lines = (broken / "benchmark.toml").read_text().splitlines()
    (broken / "benchmark.toml").write_text("\n".join(line for line in lines if not line.startswith("license")))
    with pytest.raises(CommandError, match="license"):
        call_command("publish_benchmark", str(broken))


def test_it_rejects_a_folder_without_the_hidden_split(db, digits_folder, tmp_path):
    broken = tmp_path / "digits"
    shutil.copytree(digits_folder, broken)
    (broken / "test.npz").unlink()
    with pytest.raises(CommandError, match=re.escape("test.npz")):
        call_command("publish_benchmark", str(broken))


def test_a_published_version_cannot_be_changed(version):
    version.spec = {**version.spec, "title": "rewritten"}
    with pytest.raises(ImmutableVersionError, match="immutable"):
        version.save()
