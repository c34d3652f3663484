"""Small real TorchScript models for the tests: good ones and ones that misbehave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


class CentroidClassifier(torch.nn.Module):
    """Logits are minus the squared distance to each class mean of the training inputs."""

    def __init__(self, centroids: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("centroids", centroids)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        return -torch.cdist(flat, self.centroids) ** 2


def centroid_model(inputs: np.ndarray, labels: np.ndarray, n_classes: int, path: Path, *, noise: float = 0.0,
                   seed: int = 0) -> Path:
    """Fit class means on ``inputs`` (optionally perturbed by ``noise`` to make a weaker model)."""
    flat = inputs.reshape(len(inputs), -1).astype(np.float32)
    centroids = np.stack([flat[labels == c].mean(axis=0) for c in range(n_classes)])
    if noise:
        centroids = centroids + np.random.default_rng(seed).normal(0, noise, centroids.shape).astype(np.float32)
    module = torch.jit.script(CentroidClassifier(torch.from_numpy(centroids.astype(np.float32))))
    torch.jit.save(module, str(path))
    return path


class WrongShape(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 3)


class WrongDtype(torch.nn.Module):
    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], self.n_classes, dtype=torch.float64)


class NotFinite(torch.nn.Module):
    def __init__(self, n_classes: int, value: float) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], self.n_classes), self.value)


class Raises(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 0:
            raise RuntimeError("deliberate failure in forward")
        return x


def misbehaving_model(kind: str, n_classes: int, path: Path) -> Path:
    """``kind`` is one of wrong_shape, wrong_dtype, nan, inf, raises."""
    modules = {
        "wrong_shape": lambda: WrongShape(),
        "wrong_dtype": lambda: WrongDtype(n_classes),
        "nan": lambda: NotFinite(n_classes, float("nan")),
        "inf": lambda: NotFinite(n_classes, float("inf")),
        "raises": lambda: Raises(),
    }
    torch.jit.save(torch.jit.script(modules[kind]()), str(path))
    return path
