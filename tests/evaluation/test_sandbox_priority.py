"""The sandboxed child runs at a low CPU priority, so that the web server on the same machine
stays responsive while a model is evaluated, and cannot take its priority back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from evaluation.sandbox.bwrap import find_bwrap
from evaluation.sandbox.launch import ChildHandle, start_child
from evaluation.sandbox.limits import SandboxLimits
from tests.security import models
from tests.security.support import require_bubblewrap

PROBE = Path(__file__).with_name("priority_probe.py")


@pytest.fixture(scope="module")
def normal_model(tmp_path_factory) -> Path:
    return models.build_normal_model(tmp_path_factory.mktemp("normal"))


def probe_report(model_path: Path, limits: SandboxLimits) -> dict:
    """Start the probe exactly as a model is started and return what it printed."""
    require_bubblewrap()
    handle = ChildHandle()
    try:
        start_child(
            handle,
            model_path=model_path,
            model_format="torchscript",
            limits=limits,
            bwrap=find_bwrap(),
            program=PROBE,
            program_arguments=[],
        )
        process, channel = handle.process, handle.channel
        assert process is not None and channel is not None
        end = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < end:
            channel.drain(timeout=0.2)
        assert process.poll() == 0, channel.stderr.text()[-3000:]
        channel.drain(timeout=5.0)
        return json.loads(channel.stdout.text().splitlines()[-1])
    finally:
        handle.close()


def test_the_child_runs_niced_under_sched_batch_and_cannot_raise_its_priority_back(normal_model):
    report = probe_report(normal_model, SandboxLimits(memory_bytes=1024**3, wall_seconds=60.0))
    assert report["niceness"] == SandboxLimits().niceness == 10
    assert report["batch"] is True
    assert report["raise_attempt"] != "ok"
    assert report["niceness_after"] == 10


def test_the_niceness_comes_from_the_limits(normal_model):
    report = probe_report(normal_model, SandboxLimits(memory_bytes=1024**3, wall_seconds=60.0, niceness=17))
    assert report["niceness"] == 17


def test_a_niceness_outside_0_to_19_is_refused():
    with pytest.raises(ValueError, match="niceness"):
        SandboxLimits(niceness=20)
    with pytest.raises(ValueError, match="niceness"):
        SandboxLimits(niceness=-1)
