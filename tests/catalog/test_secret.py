"""Tests for ``catalog.secret``: the site's benchmark secret and the seeds derived from it."""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from catalog.secret import SECRET_BYTES, SiteSecretError, ensure_secret, generation_seed, read_secret


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_it_creates_a_private_secret_of_32_random_bytes_once_and_reuses_it(tmp_path):
    path = tmp_path / "private" / "benchmark-secret"
    secret = ensure_secret(path)
    assert len(secret) == SECRET_BYTES == 32
    assert mode(path) == 0o600
    assert path.read_text() == secret.hex() + "\n"
    written = path.stat().st_mtime_ns
    assert ensure_secret(path) == secret == read_secret(path)
    assert path.stat().st_mtime_ns == written
    # Nothing but the secret is left in the folder (the temporary file is gone).
    assert [child.name for child in path.parent.iterdir()] == ["benchmark-secret"]


def test_two_sites_get_different_secrets(tmp_path):
    assert ensure_secret(tmp_path / "one" / "benchmark-secret") != ensure_secret(tmp_path / "two" / "benchmark-secret")


def test_it_is_private_even_under_a_permissive_umask(tmp_path):
    previous = os.umask(0)
    try:
        path = tmp_path / "benchmark-secret"
        ensure_secret(path)
    finally:
        os.umask(previous)
    assert mode(path) == 0o600


def _ensure(path: str) -> bytes:
    return ensure_secret(Path(path))


def test_processes_starting_together_share_one_secret(tmp_path):
    path = str(tmp_path / "benchmark-secret")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        secrets = pool.map(_ensure, [path] * 8)
    assert len(set(secrets)) == 1 and secrets[0] == read_secret(Path(path))


def test_it_refuses_a_secret_other_users_can_read(tmp_path):
    path = tmp_path / "benchmark-secret"
    ensure_secret(path)
    path.chmod(0o644)
    with pytest.raises(SiteSecretError, match=r"readable by other users.*chmod 600"):
        ensure_secret(path)


@pytest.mark.parametrize("content", ["", "abc\n", "zz" * 32 + "\n", "00" * 31 + "\n", "00" * 33 + "\n"])
def test_it_refuses_a_malformed_secret_rather_than_replace_it(tmp_path, content):
    path = tmp_path / "benchmark-secret"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(SiteSecretError, match="64 hexadecimal characters; restore it from a backup"):
        ensure_secret(path)
    assert path.read_text() == content


def test_a_missing_secret_file_is_named(tmp_path):
    with pytest.raises(SiteSecretError, match=r"no benchmark secret at .*nowhere.*setup_site"):
        read_secret(tmp_path / "nowhere")


def test_the_generation_seed_is_the_hmac_of_slug_and_version():
    secret = bytes(range(32))
    seed = generation_seed(secret, "glyphs", "1.0.0")
    assert seed == hmac.new(secret, b"touchstone-generation\x1fglyphs\x1f1.0.0", hashlib.sha256).digest()
    assert seed != generation_seed(secret, "glyphs", "1.0.1")
    assert seed != generation_seed(bytes(32), "glyphs", "1.0.0")
