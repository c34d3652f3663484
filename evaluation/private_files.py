"""Files written once, readable by their owner only: the site's keys and secrets."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def create_once(path: Path, text: str, *, folder_mode: int = 0o777) -> None:
    """Write ``text`` to ``path`` (mode 0600) unless the file exists; never replace an existing one.

    The text goes to a private temporary file first, which is then hard-linked into place, so
    two processes starting at the same moment either create the file or find the other's
    complete file; neither ever reads half a file or overwrites the winner's.
    """
    path = Path(path)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=folder_mode)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # Another process created it first: use theirs.
    finally:
        temporary.unlink(missing_ok=True)
