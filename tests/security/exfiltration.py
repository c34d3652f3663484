"""Models that try to carry their inputs out of the sandbox through the evaluator's messages.

Each behaves on its first ``honest_calls`` batches (the preflight on public items) and then,
on the inputs that follow (the hidden split), writes those inputs into text the site used to
show: an exception message or the shape it returns. (What arbitrary code in the child could
send is tested with forged child programs in ``test_untrusted_child.py``.)
The inputs are encoded as decimal digits of ``x * 1000``, so a test can search any page, JSON or
message for them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.security.models import N_CLASSES, _save


def leaked_digits(inputs: np.ndarray, count: int = 8) -> list[str]:
    """The strings an exfiltrating model writes for ``inputs``: its first values × 1000."""
    values = np.asarray(inputs, dtype=np.float32).reshape(len(inputs), -1)[0][:count]
    return [str(int(value * 1000)) for value in values]


class Leaks(torch.nn.Module):
    """Behaves for ``honest_calls`` batches, then writes the batch's first input values into an
    exception message (``through_shape`` False) or into the number of columns it returns."""

    def __init__(self, honest_calls: int, n_classes: int, through_shape: bool) -> None:
        super().__init__()
        self.honest_calls = honest_calls
        self.calls = 0
        self.n_classes = n_classes
        self.through_shape = through_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > self.honest_calls:
            values: list[int] = (x.flatten(1)[0][:8] * 1000).to(torch.int64).tolist()
            if self.through_shape:
                return torch.zeros(x.shape[0], values[0] + 1000)
            raise RuntimeError("hidden inputs: " + " ".join([str(v) for v in values]))
        return torch.zeros(x.shape[0], self.n_classes)


def build_leaking_model(directory: Path, channel: str, *, honest_calls: int) -> Path:
    """An exfiltrating model for ``channel``: "error" or "shape"."""
    if channel not in ("error", "shape"):
        raise ValueError(f"unknown channel {channel!r}")
    return _save(Leaks(honest_calls, N_CLASSES, channel == "shape"), directory / f"leaks-through-{channel}.pt")
