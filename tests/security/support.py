"""Helpers shared by the sandbox tests: the bubblewrap requirement, canaries, a normal run."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from evaluation.sandbox import SandboxedModel, SandboxLimits
from evaluation.sandbox.bwrap import find_bwrap
from tests.security.models import N_CLASSES, normal_inputs, reference_logits

SKIP_VARIABLE = "TOUCHSTONE_SKIP_SANDBOX_TESTS"

# Small caps keep the suite fast and the failures quick; torch needs ~1 GiB of address space.
ATTACK_LIMITS = SandboxLimits(
    memory_bytes=1536 * 1024**2,
    cpu_seconds=60,
    wall_seconds=30.0,
    file_size_bytes=64 * 1024**2,
    max_log_bytes=16 * 1024,
)


def require_bubblewrap() -> None:
    """Fail (not skip) when bubblewrap is missing, unless the skip variable is set."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1: sandbox tests skipped on request")
    if find_bwrap() is None:
        pytest.fail(
            "bubblewrap is not installed, so the sandbox cannot be tested: "
            f"`apt-get install bubblewrap` (or set {SKIP_VARIABLE}=1 to skip these tests)",
            pytrace=False,
        )


@dataclass
class Canaries:
    """Secret files on the host, outside the sandbox, that no model may read or change."""

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def plant(cls, folder: Path) -> Canaries:
        """Write a hidden split, a database file and a settings module full of canary bytes."""
        folder.mkdir(parents=True, exist_ok=True)
        canaries = cls(folder)
        for name in ("test.npz", "db.sqlite3", "settings.py"):
            content = f"CANARY-{name}-{secrets.token_hex(8)}".encode()
            path = folder / name
            path.write_bytes(content)
            canaries.files[name] = path
            canaries.contents[name] = content
        return canaries

    @property
    def write_target(self) -> Path:
        """A file that does not exist yet; a writing model tries to create it."""
        return self.folder / "written-by-model"

    def assert_untouched(self) -> None:
        """Every canary still holds its bytes and nothing new appeared next to them."""
        for name, path in self.files.items():
            assert path.read_bytes() == self.contents[name], f"{name} was modified"
        assert sorted(p.name for p in self.folder.iterdir()) == sorted(self.files)

    def assert_not_in(self, logits: np.ndarray) -> None:
        """The logits carry none of the canaries' bytes (as a model would smuggle them)."""
        as_bytes = np.clip(np.nan_to_num(logits), 0, 255).astype(np.uint8).tobytes()
        for content in self.contents.values():
            assert content[:8] not in as_bytes


def assert_normal_model_scores(model_path: Path, *, limits: SandboxLimits = ATTACK_LIMITS, count: int = 300) -> None:
    """A fresh SandboxedModel scores the normal model exactly like plain torch does."""
    inputs = normal_inputs(count, seed=7)
    with SandboxedModel(model_path, limits=limits) as model:
        logits = model.predict(inputs, n_classes=N_CLASSES)
    expected = reference_logits(inputs)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    assert (logits.argmax(axis=1) == expected.argmax(axis=1)).all()
