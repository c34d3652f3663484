"""The limits every sandboxed run of the site gets, read from the settings."""

from __future__ import annotations

from django.conf import settings

from evaluation.sandbox import SandboxLimits


def sandbox_limits() -> SandboxLimits:
    """Memory, wall and CPU time and file size allowed to a submission's run and to the health probe."""
    return SandboxLimits(
        memory_bytes=settings.SANDBOX_MEMORY_BYTES,
        wall_seconds=settings.SANDBOX_WALL_SECONDS,
        cpu_seconds=settings.SANDBOX_CPU_SECONDS,
        file_size_bytes=settings.SANDBOX_FILE_BYTES,
    )
