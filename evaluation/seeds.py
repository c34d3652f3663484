"""Seeds for every random step, derived from names so results are reproducible anywhere."""

from __future__ import annotations

import hashlib

#: The unit separator cannot appear in a version hash or a step name, so ("ab", "c") and
#: ("a", "bc") never collide.
SEPARATOR = "\x1f"


def derive_seed(*parts: str) -> int:
    """A non-negative 63-bit seed from named parts, typically ``(version_hash, step_name)``.

    ``seed = int.from_bytes(sha256(SEPARATOR.join(parts))[:8], "big") & (2**63 - 1)``; the top
    bit is dropped so the seed fits a signed 64-bit database column.
    """
    digest = hashlib.sha256(SEPARATOR.join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)
