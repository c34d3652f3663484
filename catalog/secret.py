"""The site's benchmark secret: 32 random bytes that only this site holds.

Benchmarks generated from it (``glyphs``) have a hidden split nobody else can rebuild. The
secret is made once, at install, with ``secrets.token_bytes(32)``, and kept as 64 hexadecimal
characters in a file readable by its owner only (``var/private/benchmark-secret`` on a local
site). It never enters a spec, a page, a log or a content hash: builders receive a seed
derived from it with HMAC-SHA256 (``generation_seed``), one per benchmark version, so the seed
of one version says nothing about the secret or about any other version.

Losing the file means the generated benchmarks can no longer be rebuilt (the published copies
stay intact in private storage); back it up with the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import stat
from pathlib import Path

from evaluation.private_files import create_once

SECRET_BYTES = 32
#: The file's name under the site's private data folder.
SECRET_FILENAME = "benchmark-secret"


class SiteSecretError(Exception):
    """The benchmark secret is missing, malformed or readable by others."""


def ensure_secret(path: Path) -> bytes:
    """The secret stored at ``path``, created there first if the file does not exist.

    A new secret is written to a private temporary file (mode 0600) and then hard-linked into
    place, so two processes starting at the same moment either create it or read the other's
    complete file; neither ever replaces an existing secret.
    """
    path = Path(path)
    create_once(path, secrets.token_bytes(SECRET_BYTES).hex() + "\n", folder_mode=0o700)
    return read_secret(path)


def read_secret(path: Path) -> bytes:
    """The 32-byte secret stored at ``path``; raises ``SiteSecretError`` saying what to fix."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise SiteSecretError(
            f"no benchmark secret at {path}: pass the site's secret file (created by "
            "`python manage.py setup_site`, under the private data folder)"
        ) from None
    except UnicodeDecodeError:
        text = ""
    if stat.S_IMODE(mode) & 0o077:
        raise SiteSecretError(
            f"the benchmark secret {path} is readable by other users (mode {stat.S_IMODE(mode):o}); "
            f"make it private with `chmod 600 {path}`"
        )
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != SECRET_BYTES:
        raise SiteSecretError(
            f"the benchmark secret {path} must hold {2 * SECRET_BYTES} hexadecimal characters; restore it "
            "from a backup (a new secret would generate a different hidden split)"
        )
    return secret


def generation_seed(secret: bytes, slug: str, version: str) -> bytes:
    """``HMAC-SHA256(secret, "touchstone-generation" ␟ slug ␟ version)``: a builder's seed."""
    message = "\x1f".join(("touchstone-generation", slug, version)).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).digest()
