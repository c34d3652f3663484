"""Fixtures of the attack suite: the bubblewrap requirement, canaries and a normal model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.models import build_normal_model
from tests.security.support import Canaries, require_bubblewrap


@pytest.fixture
def bubblewrap() -> None:
    """The test needs the real sandbox: fails without bubblewrap (see support.py)."""
    require_bubblewrap()


@pytest.fixture
def canaries(tmp_path: Path) -> Canaries:
    """Secret files planted on the host for this test."""
    return Canaries.plant(tmp_path / "host-secrets")


@pytest.fixture(scope="session")
def normal_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A well-behaved TorchScript model, built once."""
    return build_normal_model(tmp_path_factory.mktemp("normal-model"))
