"""TorchScript models for the gradient operations' tests: each breaks autograd in its own way.

TorchScript needs the source of ``forward``, which is why the modules live in a file. They take
float32 ``[B, 10]`` (or the digits' ``[B, 1, 8, 8]``) and return ``[B, 10]`` logits.
"""

from __future__ import annotations

from pathlib import Path

import torch

N_FEATURES = 10
N_CLASSES = 10
LEAK_MARKER = "LEAKED"  # written out in RaisesUnderGrad: TorchScript reads no globals


class Echo(torch.nn.Module):
    """Its logits are its inputs, so the logits of an attacked input are the attacked input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) * 1.0


class NoGrad(torch.nn.Module):
    """A linear model computed under torch.no_grad: its output has no autograd history."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(N_FEATURES, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.linear(x.flatten(1))


class OneHotArgmax(torch.nn.Module):
    """Returns the one-hot of its own argmax: right answers, gradients cut."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(N_FEATURES, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chosen = self.linear(x.flatten(1)).argmax(dim=1)
        return torch.nn.functional.one_hot(chosen, 10).float()


class NanGradient(torch.nn.Module):
    """Finite logits through sqrt(0), whose derivative is infinite: the gradient is NaN."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(N_FEATURES, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.sqrt(x.flatten(1) * 0.0)) + x.flatten(1)


class RaisesUnderGrad(torch.nn.Module):
    """Works for predict, but raises a message carrying its first input when asked for gradients."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:
            raise ValueError("LEAKED " + str(float(x[0, 0])))
        return x.flatten(1) * 1.0


class RaisesInBackward(torch.nn.Module):
    """igamma has no derivative with respect to its first argument: the backward pass raises."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return torch.igamma(flat + 1.0, torch.ones_like(flat))


BUILDERS = {
    "echo": Echo,
    "no_grad": NoGrad,
    "one_hot_argmax": OneHotArgmax,
    "nan_gradient": NanGradient,
    "raises_under_grad": RaisesUnderGrad,
    "raises_in_backward": RaisesInBackward,
}


def build(name: str, directory: Path) -> Path:
    """Script the model ``name`` (a key of BUILDERS) with fixed weights into ``directory``."""
    torch.manual_seed(0)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pt"
    torch.jit.save(torch.jit.script(BUILDERS[name]().eval()), str(path))
    return path
