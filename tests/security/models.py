"""Builders of real malicious models, for the attack suite and the worker's tests.

Each ``build_*`` function writes one model file into ``directory`` and returns its path
(malicious archives are in ``tests/security/archives.py``). Models take
float32 ``[B, *input_shape]`` and, where they return anything, return ``[B, n_classes]``; the
defaults match the shipped digits benchmark (``[1, 8, 8]``, 10 classes). TorchScript needs the
source of ``forward``, which is why the modules live in this file rather than in the tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

INPUT_SHAPE = (1, 8, 8)
N_CLASSES = 10
GIB = 1024**3
MIB = 1024**2


def _save(module: torch.nn.Module, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(module), str(path))
    return path


# A normal model ------------------------------------------------------------------------------


class SmallConvNet(torch.nn.Module):
    """A small, honest classifier: one convolution, pooling and a linear layer."""

    def __init__(self, input_shape: tuple[int, ...], n_classes: int) -> None:
        super().__init__()
        channels = input_shape[0]
        self.conv = torch.nn.Conv2d(channels, 8, kernel_size=3, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(2)
        self.head = torch.nn.Linear(8 * 4, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(torch.relu(self.conv(x))).flatten(1))


def normal_module(
    *, input_shape: tuple[int, ...] = INPUT_SHAPE, n_classes: int = N_CLASSES, seed: int = 0
) -> SmallConvNet:
    """The normal model as a trusted in-process module (to compute reference logits)."""
    generator = torch.Generator().manual_seed(seed)
    module = SmallConvNet(input_shape, n_classes).eval()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return module


def normal_inputs(count: int, *, input_shape: tuple[int, ...] = INPUT_SHAPE, seed: int = 0):
    """Deterministic float32 inputs in [0, 1) for the normal model."""
    rng = np.random.default_rng(seed)
    return rng.random((count, *input_shape), dtype=np.float32)


def reference_logits(inputs: np.ndarray, **kwargs) -> np.ndarray:
    """What the normal model must return for ``inputs``, computed in this process."""
    with torch.no_grad():
        return normal_module(**kwargs)(torch.from_numpy(inputs)).numpy()


def build_normal_model(
    directory: Path,
    *,
    input_shape: tuple[int, ...] = INPUT_SHAPE,
    n_classes: int = N_CLASSES,
    seed: int = 0,
    model_format: str = "torchscript",
) -> Path:
    """A well-behaved model, as TorchScript (``model.pt``) or torch.export (``model.pt2``)."""
    module = normal_module(input_shape=input_shape, n_classes=n_classes, seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    if model_format == "torchscript":
        return _save(module, directory / "normal.pt")
    example = (torch.zeros(2, *input_shape),)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    program = torch.export.export(module, example, dynamic_shapes=({0: batch},))
    path = directory / "normal.pt2"
    torch.export.save(program, str(path))
    return path


# Models that reach outside the sandbox -------------------------------------------------------


class ReadsFile(torch.nn.Module):
    """Reads ``path`` with torch.from_file and smuggles the bytes out in the logits."""

    def __init__(self, path: str, n_bytes: int, n_classes: int) -> None:
        super().__init__()
        self.path = path
        self.n_bytes = n_bytes
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        data = torch.from_file(self.path, shared=False, size=self.n_bytes, dtype=torch.uint8)
        logits = torch.zeros(x.shape[0], self.n_classes)
        count = min(self.n_bytes, self.n_classes)
        logits[:, :count] = data[:count].float()
        return logits


class WritesFile(torch.nn.Module):
    """Maps ``path`` shared and writable with torch.from_file and overwrites its bytes."""

    def __init__(self, path: str, n_bytes: int, n_classes: int) -> None:
        super().__init__()
        self.path = path
        self.n_bytes = n_bytes
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        data = torch.from_file(self.path, shared=True, size=self.n_bytes, dtype=torch.uint8)
        data.fill_(88)
        return torch.zeros(x.shape[0], self.n_classes) + data[0].float()


def build_reading_model(directory: Path, target: Path | str, *, n_bytes: int = 10, n_classes: int = N_CLASSES) -> Path:
    """A model that reads the first ``n_bytes`` of ``target`` and returns them as logits."""
    return _save(ReadsFile(str(target), n_bytes, n_classes), directory / "reading.pt")


def build_writing_model(directory: Path, target: Path | str, *, n_bytes: int = 8, n_classes: int = N_CLASSES) -> Path:
    """A model that overwrites (or creates) ``target`` with ``n_bytes`` letters X."""
    return _save(WritesFile(str(target), n_bytes, n_classes), directory / "writing.pt")


def build_huge_file_model(
    directory: Path,
    *,
    target: str = "/tmp/huge.bin",
    size_bytes: int = 2 * GIB,
    n_classes: int = N_CLASSES,
) -> Path:
    """A model that grows a file to ``size_bytes`` (a shared mapping truncates it up)."""
    return _save(WritesFile(target, size_bytes, n_classes), directory / "huge-file.pt")


# Models that exhaust resources ---------------------------------------------------------------


class AllocatesAtOnce(torch.nn.Module):
    def __init__(self, elements: int, n_classes: int) -> None:
        super().__init__()
        self.elements = elements
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block = torch.ones(self.elements)
        return torch.zeros(x.shape[0], self.n_classes) + block[-1]


class AllocatesGradually(torch.nn.Module):
    def __init__(self, chunk_elements: int, chunks: int, n_classes: int) -> None:
        super().__init__()
        self.chunk_elements = chunk_elements
        self.chunks = chunks
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept: list[torch.Tensor] = []
        for index in range(self.chunks):
            # torch.full writes every page, so each chunk is resident memory, not a reservation.
            kept.append(torch.full([self.chunk_elements], float(index)))
        total = torch.zeros(1)
        for chunk in kept:
            total = total + chunk[-1]
        return torch.zeros(x.shape[0], self.n_classes) + total


class LoopsForever(torch.nn.Module):
    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.zeros(x.shape[0], self.n_classes)
        step = 0
        while step >= 0:
            y = y * 1.0
            step += 1
        return y


class Stalls(torch.nn.Module):
    """Takes ``iterations`` tiny steps: finite, but far beyond any deadline."""

    def __init__(self, iterations: int, n_classes: int) -> None:
        super().__init__()
        self.iterations = iterations
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.zeros(x.shape[0], self.n_classes)
        for _ in range(self.iterations):
            y = y + 0.0
        return y


class Floods(torch.nn.Module):
    def __init__(self, lines: int, n_classes: int) -> None:
        super().__init__()
        self.lines = lines
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index in range(self.lines):
            print("flooding the log flooding the log flooding the log flooding the log", index)
        return torch.zeros(x.shape[0], self.n_classes)


def build_memory_hog_model(directory: Path, *, size_bytes: int = 8 * GIB, n_classes: int = N_CLASSES) -> Path:
    """A model that allocates one tensor of ``size_bytes`` (far past any sensible cap)."""
    return _save(AllocatesAtOnce(size_bytes // 4, n_classes), directory / "memory-hog.pt")


def build_gradual_memory_model(
    directory: Path,
    *,
    chunk_bytes: int = 128 * MIB,
    chunks: int = 24,
    n_classes: int = N_CLASSES,
) -> Path:
    """A model that fills memory chunk by chunk (resident pages, below the address-space cap)."""
    module = AllocatesGradually(chunk_bytes // 4, chunks, n_classes)
    return _save(module, directory / "gradual-memory.pt")


def build_endless_loop_model(directory: Path, *, n_classes: int = N_CLASSES) -> Path:
    """A model whose forward never returns and burns CPU."""
    return _save(LoopsForever(n_classes), directory / "endless-loop.pt")


def build_sleeping_model(directory: Path, *, iterations: int = 1 << 40, n_classes: int = N_CLASSES) -> Path:
    """A model that stalls past any deadline.

    TorchScript offers no sleep, so the stall is a finite but very long loop; the tests give it
    a generous CPU limit so that the wall-clock deadline is what stops it.
    """
    return _save(Stalls(iterations, n_classes), directory / "sleeping.pt")


def build_flooding_model(directory: Path, *, lines: int = 200_000, n_classes: int = N_CLASSES) -> Path:
    """A model that prints ``lines`` lines per batch (~14 MB) and then returns valid logits."""
    return _save(Floods(lines, n_classes), directory / "flooding.pt")


# Models whose output is malformed ------------------------------------------------------------


class BadOutput(torch.nn.Module):
    def __init__(self, kind: str, n_classes: int) -> None:
        super().__init__()
        self.kind = kind
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        if self.kind == "wrong_shape":
            return torch.zeros(batch, self.n_classes + 3)
        if self.kind == "float64":
            return torch.zeros(batch, self.n_classes, dtype=torch.float64)
        if self.kind == "int64":
            return torch.zeros(batch, self.n_classes, dtype=torch.int64)
        if self.kind == "nan":
            return torch.full([batch, self.n_classes], float("nan"))
        if self.kind == "inf":
            return torch.full([batch, self.n_classes], float("inf"))
        # "gigantic": a 4 TiB view that costs nothing until someone materialises it.
        return torch.zeros(1, 1).expand(batch * 1024, 1 << 30)


class ReturnsTuple(torch.nn.Module):
    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = torch.zeros(x.shape[0], self.n_classes)
        return logits, logits


MALFORMED_KINDS = ("wrong_shape", "float64", "int64", "nan", "inf", "gigantic", "tuple")


def build_malformed_model(directory: Path, kind: str, *, n_classes: int = N_CLASSES) -> Path:
    """A model returning bad logits; ``kind`` is one of ``MALFORMED_KINDS``."""
    if kind not in MALFORMED_KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    module = ReturnsTuple(n_classes) if kind == "tuple" else BadOutput(kind, n_classes)
    return _save(module, directory / f"malformed-{kind}.pt")


class Raises(torch.nn.Module):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 0:
            raise RuntimeError(self.message)
        return x


RAISED_MESSAGE = "deliberate failure: the weights of layer fc3 are missing"


def build_raising_model(directory: Path, *, message: str = RAISED_MESSAGE) -> Path:
    """A model whose forward raises RuntimeError(``message``)."""
    return _save(Raises(message), directory / "raising.pt")


class CarriesWeight(torch.nn.Module):
    def __init__(self, size_bytes: int, n_classes: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.zeros(size_bytes // 4))
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], self.n_classes) + self.weight[0]


def build_oversized_model(directory: Path, *, size_bytes: int = 3 * MIB, n_classes: int = N_CLASSES) -> Path:
    """A valid TorchScript model carrying a ``size_bytes`` buffer (to exceed an upload cap)."""
    return _save(CarriesWeight(size_bytes, n_classes), directory / "oversized.pt")
