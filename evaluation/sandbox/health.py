"""A health probe of the sandbox: a known-good model, built by the evaluator, run end to end.

Whether the sandbox works is decided from the evaluator's own evidence, never from anything a
submitted model wrote. The probe builds a small linear model with fixed weights in this
(trusted) process, runs it through ``SandboxedModel`` under the same limits as submissions, and
compares the logits with the ones computed here. A worker runs it periodically and after every
failure that happened before a model was opened, so maintainers (and the site's banner) know
whether the sandbox itself is broken.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EvaluationError
from .limits import SandboxLimits
from .process import SandboxedModel

PROBE_FEATURES = 16
PROBE_CLASSES = 4
PROBE_ITEMS = 8


@dataclass(frozen=True)
class SandboxHealth:
    """The outcome of one probe."""

    ok: bool
    """The known-good model ran and returned exactly the expected logits."""
    checked_at: float
    """When the probe finished (seconds since the epoch)."""
    seconds: float
    """How long the probe took, start-up included."""
    layers: tuple[str, ...]
    """The protection layers the probe ran under (empty if it did not start)."""
    problem: str
    """What went wrong, for maintainers (empty when ``ok``); may name host paths."""


def _probe_weights() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240917)
    weight = rng.standard_normal((PROBE_CLASSES, PROBE_FEATURES)).astype(np.float32)
    bias = rng.standard_normal(PROBE_CLASSES).astype(np.float32)
    return weight, bias


def build_probe_model(path: Path) -> Path:
    """Write the probe's TorchScript model (a fixed linear map of flattened inputs) to ``path``."""
    import torch

    weight, bias = _probe_weights()
    layer = torch.nn.Linear(PROBE_FEATURES, PROBE_CLASSES)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
    module = torch.nn.Sequential(torch.nn.Flatten(), layer).eval()
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def probe_inputs() -> np.ndarray:
    """The probe's fixed inputs, float32 ``[PROBE_ITEMS, 1, 4, 4]``."""
    rng = np.random.default_rng(7)
    return rng.random((PROBE_ITEMS, 1, 4, 4), dtype=np.float32)


def expected_logits(inputs: np.ndarray) -> np.ndarray:
    """The logits the probe model must return, computed in this process."""
    weight, bias = _probe_weights()
    logits: np.ndarray = inputs.reshape(len(inputs), -1) @ weight.T + bias
    return logits


def check_sandbox(*, limits: SandboxLimits, allow_unsandboxed: bool = False) -> SandboxHealth:
    """Run the probe model through the sandbox and say whether it worked."""
    began = time.monotonic()
    layers: tuple[str, ...] = ()
    problem = ""
    with tempfile.TemporaryDirectory(prefix="touchstone-probe-") as folder:
        model_path = build_probe_model(Path(folder) / "probe.pt")
        inputs = probe_inputs()
        try:
            with SandboxedModel(model_path, limits=limits, allow_unsandboxed=allow_unsandboxed) as model:
                logits = model.predict(inputs, n_classes=PROBE_CLASSES)
                layers = model.report().layers
            if not np.allclose(logits, expected_logits(inputs), rtol=1e-4, atol=1e-4):
                problem = "the known-good model returned logits that differ from the expected ones"
        except EvaluationError as error:
            problem = f"{error.code}: {error.message}"
            if error.private_detail:
                problem += f"\n{error.private_detail}"
    return SandboxHealth(
        ok=not problem,
        checked_at=time.time(),
        seconds=time.monotonic() - began,
        layers=tuple(layers),
        problem=problem,
    )
