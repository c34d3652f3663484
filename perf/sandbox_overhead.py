"""Cost of the sandbox: a mid-size CNN through SandboxedModel versus plain in-process inference.

The same TorchScript CNN (~98k parameters) scores 20 conditions of 10,000 inputs of shape
[1, 28, 28] twice in this run: once in this process (torch.jit.load, same batch size, same
thread count) and once through the full sandbox (one child for all conditions, every layer
this host offers). The sandbox's time includes starting the child (importing torch inside),
writing every condition into the IO folder and validating every output.

Other work on a shared machine makes timings noisy, so the two ways alternate condition by
condition (see ``run_interleaved``); with ``--rounds N`` each way keeps its best total. Prints
the times, the sandbox's fixed cost per model (starting the child, which is mostly ``import
torch`` in a fresh interpreter, and stopping it) and the ratio without it, then last the line
``ratio X.XX`` (sandbox / plain, fixed cost included). Target: <= 1.05.

The fixed cost does not shrink with the inputs, so the ratio depends on how long the run is:
with the defaults (about 18 s of inference on an idle 2-core machine) one second of start-up
is about 6 points of it. The ratio without it is what each further input costs.

    python perf/sandbox_overhead.py [--conditions 20] [--items 10000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.sandbox import SandboxedModel, SandboxLimits
from evaluation.sandbox.limits import inference_threads

BATCH_SIZE = 256
N_CLASSES = 10


class MidSizeCNN(torch.nn.Module):
    """Three conv-pool blocks and a two-layer head: ~98k parameters, ~2 M MACs per input."""

    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        )
        self.head = torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(64 * 3 * 3, 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, N_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(path: Path) -> int:
    """Save the CNN with seeded weights as TorchScript; return its parameter count."""
    torch.manual_seed(0)
    module = MidSizeCNN().eval()
    torch.jit.save(torch.jit.script(module), str(path))
    return sum(parameter.numel() for parameter in module.parameters())


def build_conditions(count: int, items: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` perturbed copies of one set of ``items`` random images in [0, 1]."""
    rng = np.random.default_rng(seed)
    clean = rng.random((items, 1, 28, 28), dtype=np.float32)
    conditions = []
    for index in range(count):
        noise = rng.normal(0.0, 0.05 * index, clean.shape).astype(np.float32)
        conditions.append(np.clip(clean + noise, 0.0, 1.0))
    return conditions


def run_interleaved(path: Path, conditions: list[np.ndarray]) -> dict[str, object]:
    """Score every condition both ways, alternating per condition, and time each way.

    Plain: torch.jit.load in this process, then batch by batch. Sandbox: one SandboxedModel for
    all conditions; its time includes start-up (importing torch in the child), every
    ``predict`` (IO folder, protocol, validation) and clean-up. Alternating condition by
    condition (and which way goes first) exposes both ways to the same background load.
    ``fixed`` is the sandbox's start-up plus clean-up, ``load`` the plain model's loading.
    """
    limits = SandboxLimits(wall_seconds=3600.0, cpu_seconds=7200)
    plain_seconds = 0.0
    sandbox_seconds = 0.0

    began = time.perf_counter()
    plain_model = torch.jit.load(str(path), map_location="cpu")
    plain_model.eval()
    plain_seconds += time.perf_counter() - began

    def plain(inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            batches = [
                plain_model(torch.from_numpy(np.array(inputs[start : start + BATCH_SIZE])))
                for start in range(0, len(inputs), BATCH_SIZE)
            ]
            return torch.cat(batches).numpy()

    load_seconds = plain_seconds
    began = time.perf_counter()
    sandboxed = SandboxedModel(path, limits=limits, batch_size=BATCH_SIZE)
    sandboxed.__enter__()
    fixed_seconds = time.perf_counter() - began
    sandbox_seconds += fixed_seconds
    try:
        for index, inputs in enumerate(conditions):
            ways = ["plain", "sandbox"] if index % 2 == 0 else ["sandbox", "plain"]
            for way in ways:
                began = time.perf_counter()
                if way == "plain":
                    expected = plain(inputs)
                    plain_seconds += time.perf_counter() - began
                else:
                    actual = sandboxed.predict(inputs, n_classes=N_CLASSES)
                    sandbox_seconds += time.perf_counter() - began
            np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)
        report = sandboxed.report()
    finally:
        began = time.perf_counter()
        sandboxed.__exit__(None, None, None)
        fixed_seconds += time.perf_counter() - began
        sandbox_seconds += time.perf_counter() - began
    return {
        "plain": plain_seconds,
        "sandbox": sandbox_seconds,
        "report": report,
        "fixed": fixed_seconds,
        "load": load_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    """Run both ways, check they agree, print the times and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conditions", type=int, default=20)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2, help="repeat the whole comparison")
    arguments = parser.parse_args(argv)

    threads = inference_threads()
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    with tempfile.TemporaryDirectory(prefix="touchstone-perf-") as folder:
        path = Path(folder) / "cnn.pt"
        parameters = build_model(path)
        conditions = build_conditions(arguments.conditions, arguments.items)
        total = sum(len(inputs) for inputs in conditions)
        print(
            f"model: {parameters:,} parameters; {arguments.conditions} conditions x "
            f"{arguments.items:,} inputs [1, 28, 28] = {total:,} items; batch {BATCH_SIZE}; "
            f"{threads} threads"
        )

        plain_times: list[float] = []
        sandbox_times: list[float] = []
        plain_inference: list[float] = []
        sandbox_inference: list[float] = []
        for _ in range(arguments.rounds):
            result = run_interleaved(path, conditions)
            plain_times.append(result["plain"])
            sandbox_times.append(result["sandbox"])
            plain_inference.append(result["plain"] - result["load"])
            sandbox_inference.append(result["sandbox"] - result["fixed"])
            report = result["report"]
            print(f"plain process: {result['plain']:.2f} s ({total / result['plain']:,.0f} items/s)")
            print(
                f"sandbox:       {result['sandbox']:.2f} s "
                f"({total / result['sandbox']:,.0f} items/s; start-up "
                f"{report.startup_seconds:.2f} s; peak memory "
                f"{(report.peak_memory_bytes or 0) / 1024**2:.0f} MiB)"
            )
            print(f"fixed cost:    {result['fixed']:.2f} s (start-up and clean-up)")
        print(f"sandbox layers: {', '.join(report.layers)}")
        print(f"ratio without fixed cost {min(sandbox_inference) / min(plain_inference):.2f}")
    plain_seconds, sandbox_seconds = min(plain_times), min(sandbox_times)
    print(f"ratio {sandbox_seconds / plain_seconds:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
