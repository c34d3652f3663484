"""Small real TorchScript models for the tests that score well; the misbehaving ones live in
``tests/security/models.py``."""

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
        return -(torch.cdist(flat, self.centroids) ** 2)


def centroid_model(
    inputs: np.ndarray, labels: np.ndarray, n_classes: int, path: Path, *, noise: float = 0.0, seed: int = 0
) -> Path:
    """Fit class means on ``inputs`` (optionally perturbed by ``noise`` to make a weaker model)."""
    flat = inputs.reshape(len(inputs), -1).astype(np.float32)
    centroids = np.stack([flat[labels == c].mean(axis=0) for c in range(n_classes)])
    if noise:
        centroids = centroids + np.random.default_rng(seed).normal(0, noise, centroids.shape).astype(np.float32)
    module = torch.jit.script(CentroidClassifier(torch.from_numpy(centroids.astype(np.float32))))
    torch.jit.save(module, str(path))
    return path
