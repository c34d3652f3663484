"""Run ``probe.py`` in the very sandbox a model gets: the worker's own start-up code.

``start_child`` is the function ``SandboxedModel`` starts every model with; here it starts the
probe in place of the child program, with the same copies, binds, account, cgroups, rlimits and
seccomp filter, and the probe's JSON report is read from its stdout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from evaluation.sandbox.bwrap import find_bwrap
from evaluation.sandbox.launch import ChildHandle, start_child
from evaluation.sandbox.limits import SandboxLimits

PROBE = Path(__file__).with_name("probe.py")
PROBE_LIMITS = SandboxLimits(memory_bytes=1024**3, wall_seconds=60.0, max_log_bytes=256 * 1024)


class ProbeRun:
    """A probe started by ``start_child``; ``report()`` waits for it and parses its output."""

    def __init__(self, model_path: Path, port: int, paths: Sequence[str]) -> None:
        bwrap = find_bwrap()
        assert bwrap is not None
        self.handle = ChildHandle()
        start_child(
            self.handle,
            model_path=model_path,
            model_format="torchscript",
            limits=PROBE_LIMITS,
            bwrap=bwrap,
            program=PROBE,
            program_arguments=[str(port), *paths],
        )

    def report(self, timeout: float = 60.0) -> dict:
        """Wait for the probe to exit and return its report (fails with its stderr if none)."""
        process, channel = self.handle.process, self.handle.channel
        assert process is not None and channel is not None
        # Read while waiting: a report larger than a pipe's buffer would otherwise block it.
        end = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < end:
            channel.drain(timeout=0.2)
        if process.poll() is None:
            self.handle.kill()
            raise TimeoutError(f"the probe did not finish within {timeout} seconds")
        channel.drain(timeout=5.0)
        assert process.returncode == 0, channel.stderr.text()[-3000:]
        return json.loads(channel.stdout.text().splitlines()[-1])

    def close(self) -> None:
        """Kill what is left and delete the IO folder and cgroups."""
        self.handle.close()


def run_probe(model_path: Path, port: int, paths: Sequence[str] = ()) -> dict:
    """Start the probe as a model would be started, and return its report."""
    run = ProbeRun(model_path, port, paths)
    try:
        return run.report()
    finally:
        run.close()
