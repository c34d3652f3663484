"""SandboxedModel end to end: real children, real bubblewrap, real TorchScript and torch.export.

Attacks live in tests/security; these tests cover the normal path, the report, clean-up, the
fail-closed rule and the development mode. Without bubblewrap they fail, unless
TOUCHSTONE_SKIP_SANDBOX_TESTS=1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evaluation.errors import (
    ModelRaisedError,
    SandboxUnavailableError,
)
from evaluation.sandbox import SandboxedModel, SandboxLimits, launch, sandbox_status
from evaluation.sandbox.cgroups import RunCgroup
from tests.security import models
from tests.security.support import ATTACK_LIMITS, require_bubblewrap

LIMITS = ATTACK_LIMITS


@pytest.fixture
def bubblewrap() -> None:
    require_bubblewrap()


@pytest.fixture(scope="module")
def normal_model(tmp_path_factory) -> Path:
    return models.build_normal_model(tmp_path_factory.mktemp("normal"))


@pytest.fixture
def without_bubblewrap(monkeypatch) -> None:
    monkeypatch.setattr("evaluation.sandbox.bwrap.find_bwrap", lambda: None)


def test_one_child_scores_every_condition_like_plain_torch_and_cleans_up(bubblewrap, normal_model: Path):
    # A 16 KiB file-size cap forces the inputs through the IO folder in several chunks.
    limits = dataclasses.replace(LIMITS, file_size_bytes=16 * 1024)
    conditions = [models.normal_inputs(count, seed=seed) for seed, count in enumerate([700, 5, 300])]

    with SandboxedModel(normal_model, limits=limits, batch_size=100) as model:
        pid = model._child.process.pid
        scratch = model._child.scratch
        cgroup_folders = list(model._child.cgroup.directories.values())
        results = [model.predict(inputs, n_classes=models.N_CLASSES) for inputs in conditions]
        assert model._child.process.pid == pid  # the same child served every condition
        report = model.report()

    for inputs, logits in zip(conditions, results, strict=True):
        assert logits.dtype == np.float32
        np.testing.assert_allclose(logits, models.reference_logits(inputs), rtol=1e-5, atol=1e-5)
    assert report.layers == sandbox_status()["layers"]
    assert report.layers[:3] == ("bubblewrap", "seccomp", "rlimits")
    assert report.items == 1005
    assert len(report.batch_seconds) == 7 + 1 + 3
    assert report.startup_seconds > 0
    assert 0 < report.peak_memory_bytes < limits.memory_bytes
    assert report.parameter_count == 410
    assert report.model_format == "torchscript"
    assert model._child.process.poll() is not None
    assert not scratch.exists()
    assert not any(folder.exists() for folder in cgroup_folders)


def test_it_scores_a_torch_export_model(bubblewrap, tmp_path: Path):
    path = models.build_normal_model(tmp_path, model_format="torch.export")
    inputs = models.normal_inputs(50)

    with SandboxedModel(path, limits=LIMITS) as model:
        logits = model.predict(inputs, n_classes=models.N_CLASSES)
        report = model.report()

    np.testing.assert_allclose(logits, models.reference_logits(inputs), rtol=1e-5, atol=1e-5)
    assert report.model_format == "torch.export"
    assert report.parameter_count == 410


def test_it_rejects_inputs_that_are_not_float32_without_ending_the_session(bubblewrap, normal_model: Path):
    inputs = models.normal_inputs(3)
    with SandboxedModel(normal_model, limits=LIMITS) as model:
        with pytest.raises(TypeError):
            model.predict(inputs.astype(np.float64), n_classes=models.N_CLASSES)
        with pytest.raises(ValueError):
            model.predict(inputs, n_classes=0)
        assert model.predict(inputs[:0], n_classes=4).shape == (0, 4)
        assert model.predict(inputs, n_classes=models.N_CLASSES).shape == (3, models.N_CLASSES)


def test_after_a_failure_every_call_raises_the_same_error(bubblewrap, tmp_path: Path):
    path = models.build_raising_model(tmp_path)
    with SandboxedModel(path, limits=LIMITS) as model:
        with pytest.raises(ModelRaisedError) as first:
            model.predict(models.normal_inputs(2), n_classes=models.N_CLASSES)
        with pytest.raises(ModelRaisedError) as second:
            model.predict(models.normal_inputs(2), n_classes=models.N_CLASSES)
        assert model._child.process.poll() is not None  # the child was stopped at the failure

    assert second.value is first.value
    assert first.value.code == "model_raised"


def test_a_deadline_that_passes_before_the_model_is_opened_is_the_sites_fault(bubblewrap, normal_model: Path):
    # Importing torch alone takes longer than 0.3 s: the deadline counts from the spawn, and
    # the model had not been opened when it passed, so the model cannot be blamed.
    limits = dataclasses.replace(LIMITS, wall_seconds=0.3)
    began = time.monotonic()
    with pytest.raises(SandboxUnavailableError) as caught:
        with SandboxedModel(normal_model, limits=limits):
            pass

    assert time.monotonic() - began < 15
    assert caught.value.infrastructure
    assert "before your model was opened" in str(caught.value)
    assert "did not start in time" in caught.value.private_detail


def test_it_refuses_to_run_without_bubblewrap_and_says_how_to_fix_it(without_bubblewrap, normal_model: Path):
    with pytest.raises(SandboxUnavailableError) as caught:
        with SandboxedModel(normal_model, limits=LIMITS):
            pass

    message = str(caught.value)
    assert "apt-get install bubblewrap" in message
    assert "TOUCHSTONE_ALLOW_UNSANDBOXED_MODELS=1" in message
    assert caught.value.infrastructure


def test_it_runs_unsandboxed_when_allowed_and_reports_it(without_bubblewrap, normal_model: Path):
    inputs = models.normal_inputs(20)
    with SandboxedModel(normal_model, limits=LIMITS, allow_unsandboxed=True) as model:
        logits = model.predict(inputs, n_classes=models.N_CLASSES)
        report = model.report()

    np.testing.assert_allclose(logits, models.reference_logits(inputs), rtol=1e-5, atol=1e-5)
    assert report.layers[0] == "unsandboxed"
    assert "rlimits" in report.layers
    assert "bubblewrap" not in report.layers and "seccomp" not in report.layers


def test_a_bubblewrap_that_cannot_start_is_reported_as_unavailable(broken_bubblewrap, normal_model: Path):
    with pytest.raises(SandboxUnavailableError) as caught:
        with SandboxedModel(normal_model, limits=LIMITS):
            pass

    # The site's fault, and bubblewrap's words (which name host paths) go to the logs only.
    assert caught.value.infrastructure
    assert "No permissions to create new namespace" in caught.value.private_detail
    assert "user namespaces" in caught.value.private_detail
    assert "bwrap" not in str(caught.value)


def test_sandbox_status_describes_the_layers_of_this_host(bubblewrap):
    status = sandbox_status()

    assert status["sandboxed"] is True
    assert os.access(status["bubblewrap"]["path"], os.X_OK)
    assert status["bubblewrap"]["version"][0].isdigit()
    assert status["seccomp"] is True
    assert set(status["cgroups"]) == {"memory", "pids"}
    assert status["layers"][:3] == ("bubblewrap", "seccomp", "rlimits")


def test_sandbox_status_says_unsandboxed_without_bubblewrap(without_bubblewrap):
    status = sandbox_status()

    assert status["sandboxed"] is False
    assert status["bubblewrap"] is None
    assert status["layers"][0] == "unsandboxed"


def test_the_default_limits_suit_small_benchmarks():
    limits = SandboxLimits()

    assert limits.memory_mib == 2048
    # Room for a full suite (corruptions, attacks, saliency) on mnist with a small CNN.
    assert limits.wall_seconds == 600.0 and limits.cpu_seconds == 1200
    assert limits.address_space_bytes > limits.memory_bytes


WORKER = """
import json, sys
from pathlib import Path
import numpy as np
import evaluation.sandbox.bwrap as bwrap
from evaluation.sandbox import SandboxedModel, SandboxLimits
if sys.argv[2] == "unsandboxed":
    bwrap.find_bwrap = lambda: None
model = SandboxedModel(Path(sys.argv[1]), allow_unsandboxed=True,
                       limits=SandboxLimits(memory_bytes=1536 * 1024**2, wall_seconds=120.0))
model.__enter__()
child = model._child
pids = sorted({child.process.pid, *child.cgroup.pids_in_use()})
folders = [str(folder) for folder in child.cgroup.directories.values()]
folders.append(str(child.scratch))
print(json.dumps({"pids": pids, "folders": folders}), flush=True)
model.predict(np.zeros((4, 1, 8, 8), dtype=np.float32), n_classes=10)  # never returns
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            return stat_file.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("mode", ["sandboxed", "unsandboxed"])
def test_a_worker_killed_outright_takes_its_model_with_it(bubblewrap, mode: str, tmp_path: Path):
    path = models.build_endless_loop_model(tmp_path)
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path), mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    started = json.loads(worker.stdout.readline())
    time.sleep(1.0)  # the model is now looping inside predict()
    assert all(_alive(pid) for pid in started["pids"])

    worker.send_signal(signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in started["pids"]) and time.monotonic() < deadline:
        time.sleep(0.1)

    assert not any(_alive(pid) for pid in started["pids"])
    # The dead worker could not remove its cgroups and IO folder; the next run sweeps them away
    # (once init has reaped the orphaned child, which may take a moment).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        RunCgroup.create(memory_bytes=1024**3, pids=8).remove()
        launch._sweep_stale_scratch()
        if not any(Path(folder).exists() for folder in started["folders"]):
            break
        time.sleep(0.2)
    assert not any(Path(folder).exists() for folder in started["folders"])
