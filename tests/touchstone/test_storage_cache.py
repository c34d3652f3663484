"""A machine's cache of the bucket stays under its bound, evicting the least recently used copies only."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.object_storage import use_new_bucket
from touchstone.storage import fetch_file, fetch_folder, private_path, store_folder, write_file_atomically
from touchstone.storage_cache import MIN_IDLE_SECONDS, in_use, trim_cache

KIB = 1024
LONG_AGO = 3 * MIN_IDLE_SECONDS


def write(path: Path, size: int, *, idle: float) -> Path:
    """A file of ``size`` bytes last used ``idle`` seconds ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    used(path, idle)
    return path


def used(path: Path, idle: float) -> None:
    when = time.time() - idle
    os.utime(path, (when, when))


def complete_folder(root: Path, relative: str, size: int, *, idle: float) -> Path:
    folder = root / relative
    write(folder / "test.npz", size, idle=idle)
    mark = write(folder.with_name(folder.name + ".complete"), 0, idle=idle)
    used(mark, idle)
    return folder


def test_it_evicts_the_least_recently_used_copies_until_the_cache_fits(tmp_path):
    oldest = write(tmp_path / "submissions/2026/11/a/model.pt", 40 * KIB, idle=LONG_AGO + 300)
    version = complete_folder(tmp_path, "benchmarks/digits/1.0.0-abc", 40 * KIB, idle=LONG_AGO + 200)
    newer = write(tmp_path / "outcomes/1/run-1.npz", 40 * KIB, idle=LONG_AGO + 100)
    removed = trim_cache(tmp_path, max_bytes=50 * KIB)
    assert removed == [oldest, version]
    assert not version.exists() and not version.with_name(version.name + ".complete").exists()
    assert newer.exists()


def test_it_never_evicts_what_is_being_written_published_or_used_lately(tmp_path):
    recent = write(tmp_path / "submissions/2026/11/b/model.pt", 40 * KIB, idle=MIN_IDLE_SECONDS / 2)
    partial = write(tmp_path / "submissions/2026/12/c/upload.partial", 40 * KIB, idle=LONG_AGO)
    staging = write(tmp_path / "outcomes/2/.staging-xyz", 40 * KIB, idle=LONG_AGO)
    downloading = write(tmp_path / "benchmarks/x/.staging-q/test.npz", 40 * KIB, idle=LONG_AGO)
    publishing = write(tmp_path / "benchmarks/x/2.0.0-def/test.npz", 40 * KIB, idle=LONG_AGO)
    assert trim_cache(tmp_path, max_bytes=0) == []
    assert all(path.exists() for path in (recent, partial, staging, downloading, publishing))


def test_a_copy_a_run_holds_is_never_evicted_and_goes_once_released(tmp_path):
    model = write(tmp_path / "submissions/2026/11/d/model.pt", 40 * KIB, idle=LONG_AGO + 100)
    version = complete_folder(tmp_path, "benchmarks/digits/1.0.0-abc", 40 * KIB, idle=LONG_AGO + 100)
    other = write(tmp_path / "outcomes/3/run-3.npz", 40 * KIB, idle=LONG_AGO)
    with in_use(version, model):
        # Over the bound, the cache gives up what it can and keeps what the run needs.
        assert trim_cache(tmp_path, max_bytes=0) == [other]
        assert model.exists() and (version / "test.npz").exists()
    assert sorted(trim_cache(tmp_path, max_bytes=0)) == sorted([model, version])


def test_a_hold_taken_by_another_process_of_the_machine_is_respected(tmp_path):
    model = write(tmp_path / "submissions/2026/11/e/model.pt", 40 * KIB, idle=LONG_AGO)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(model)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"holding\n"
        assert trim_cache(tmp_path, max_bytes=0) == []
    finally:
        holder.communicate(b"done\n", timeout=30)
    assert trim_cache(tmp_path, max_bytes=0) == [model]


# A worker process in the middle of a run, as far as the cache can tell.
HOLD_SCRIPT = """
import sys
from pathlib import Path
from touchstone.storage_cache import in_use
with in_use(Path(sys.argv[1])):
    print("holding", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def bucket(settings, emulator, tmp_path):
    use_new_bucket(settings, emulator, tmp_path / "worker-cache")
    return settings


def test_a_download_past_the_bound_evicts_the_least_recently_fetched_and_it_is_fetched_again(bucket, tmp_path):
    models = {name: os.urandom(30 * KIB) for name in ("a", "b", "c")}
    for name, content in models.items():
        write_file_atomically(f"submissions/2026/11/{name}/model.pt", [content])
    files = {"benchmark.toml": b"slug = 'x'", "test.npz": os.urandom(30 * KIB)}
    for name, content in files.items():
        write_file_atomically(f"benchmarks/x/1.0.0/{name}", [content])
    store_folder("benchmarks/x/1.0.0")
    bucket.STORAGE_CACHE_DIR = tmp_path / "another-machine"
    bucket.STORAGE_CACHE_MAX_BYTES = 100 * KIB
    hashes = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}

    def fetch_model(name: str) -> Path:
        return fetch_file(f"submissions/2026/11/{name}/model.pt", sha256=hashlib.sha256(models[name]).hexdigest())

    folder = fetch_folder("benchmarks/x/1.0.0", hashes)
    first, second = fetch_model("a"), fetch_model("b")
    for path in (folder.with_name(folder.name + ".complete"), first, second):
        used(path, LONG_AGO)
    used(first, LONG_AGO + 50)  # a was used least recently
    fetch_model("c")  # 120 KiB now: the least recently used copy goes
    assert not first.exists()
    assert second.exists() and folder.is_dir()
    # Using a copy makes it recent: the version is used again, so b goes next.
    assert fetch_folder("benchmarks/x/1.0.0", hashes) == folder
    assert fetch_model("a").read_bytes() == models["a"]
    assert not second.exists()
    assert folder.is_dir() and private_path("submissions/2026/11/c/model.pt").exists()
