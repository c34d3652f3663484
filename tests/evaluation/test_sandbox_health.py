"""The sandbox's health probe: a known-good model built by the evaluator, run end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluation.sandbox.health import build_probe_model, check_sandbox, expected_logits, probe_inputs
from tests.security.support import ATTACK_LIMITS, require_bubblewrap


def test_the_probe_model_computes_the_expected_logits_in_this_process(tmp_path: Path):
    import torch

    model = torch.jit.load(str(build_probe_model(tmp_path / "probe.pt")))
    inputs = probe_inputs()

    with torch.no_grad():
        logits = model(torch.from_numpy(inputs)).numpy()

    np.testing.assert_allclose(logits, expected_logits(inputs), rtol=1e-5, atol=1e-5)


def test_a_working_sandbox_passes_the_probe_under_every_layer():
    require_bubblewrap()
    health = check_sandbox(limits=ATTACK_LIMITS)

    assert health.ok, health.problem
    assert health.problem == ""
    assert health.layers[:2] == ("bubblewrap", "seccomp")


def test_a_bubblewrap_that_cannot_start_fails_the_probe_and_says_why(broken_bubblewrap):

    health = check_sandbox(limits=ATTACK_LIMITS)

    assert not health.ok
    assert health.problem.startswith("sandbox_unavailable")
    assert "No permissions to create new namespace" in health.problem
