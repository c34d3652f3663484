"""``touchstone check``: the site's upload checks and preflight, run on this machine.

The same functions the site runs on every upload, in the same order: ``inspect_model_file``
when the file arrives, then, in the sandbox, ``run_preflight`` on the first batch and a batch of
one of the public dev split (``preflight_slice``). A model that passes here passes there, given
the site's limits, which a server reports at ``/api/v1/about/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from evaluation.archive import ModelFileInfo, inspect_model_file
from evaluation.preflight import preflight_slice, run_preflight
from evaluation.public import EvaluationData
from evaluation.sandbox import SandboxedModel, SandboxLimits

MIB = 1024 * 1024


@dataclass(frozen=True)
class SiteLimits:
    """The settings of a site that decide whether a model passes its checks."""

    batch_size: int = 256
    """Items per batch (the site's ``TOUCHSTONE_EVALUATION_BATCH_SIZE``)."""
    max_upload_bytes: int = 100 * MIB
    """The upload cap (``TOUCHSTONE_MAX_UPLOAD_MB``)."""
    memory_bytes: int = 3072 * MIB
    """The sandbox's memory (``TOUCHSTONE_SANDBOX_MEMORY_MB``)."""

    @classmethod
    def from_about(cls, about: Mapping[str, object]) -> SiteLimits:
        """The limits a server reports at ``/api/v1/about/``; the defaults where it names none."""
        defaults = cls()

        def number(key: str, default: int) -> int:
            value = about.get(key)
            return value if isinstance(value, int) and value > 0 else default

        return cls(
            batch_size=number("evaluation_batch_size", defaults.batch_size),
            max_upload_bytes=number("max_upload_bytes", defaults.max_upload_bytes),
            memory_bytes=number("sandbox_memory_bytes", defaults.memory_bytes),
        )


def check_model(
    model_path: Path,
    dataset: EvaluationData,
    *,
    limits: SiteLimits,
    wall_seconds: float = 600.0,
    allow_unsandboxed: bool = False,
) -> tuple[ModelFileInfo, int]:
    """Run the upload checks and the preflight on ``model_path``; returns the file's description and the items run.

    Raises the ``EvaluationError`` the site would record, with the same message.
    """
    info = inspect_model_file(Path(model_path), max_bytes=limits.max_upload_bytes)
    inputs = preflight_slice(dataset.data.inputs, limits.batch_size)
    sandbox = SandboxLimits(memory_bytes=limits.memory_bytes, wall_seconds=wall_seconds)

    def session() -> SandboxedModel:
        return SandboxedModel(
            Path(model_path), limits=sandbox, allow_unsandboxed=allow_unsandboxed, batch_size=limits.batch_size
        )

    # As on an upload: a fresh session retries the probes when the first fails, and outputs that
    # are already probabilities are refused.
    with session() as model:
        run_preflight(model, inputs, n_classes=len(dataset.spec.classes), reopen=session, refuse_probabilities=True)
    return info, len(inputs)
