"""Time the whole evaluation of one mnist submission against the model's own passes.

Builds the mnist benchmark and trains its baseline CNN (as the catalog does), stores the
corrupted copies of the hidden split, then runs ``evaluate_model`` with the whole suite in the
real sandbox: the clean pass, every corruption at five severities, FGSM and PGD at each eps,
and the saliency passes. It prints the time of each stage (from the "condition k of n"
progress reports) and of the whole evaluation.

The baseline runs the same forward and backward passes on the same inputs in this one plain
process with the sandbox's thread count, on a freshly loaded model as the sandbox does (the
faster of two such runs): a forward pass per clean or corrupted copy; per FGSM
eps a gradient and a forward pass; per PGD eps a forward pass, 10 gradients and a forward pass;
a gradient per saliency pass. The last line printed is ``ratio X.XX`` = whole evaluation /
baseline (the target is at most 1.3), and the line before it the whole time (target: under 90 s
on a 2-core machine).

Run: ``python perf/full_evaluation.py`` from the repository root (about two minutes).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog import BUILDERS
from catalog.baselines import train_baselines
from evaluation.perturbed import PerturbedSuite, suite_root
from evaluation.public import EvaluationData
from evaluation.runner import evaluate_model
from evaluation.sandbox.limits import inference_threads
from evaluation.spec import load_benchmark
from evaluation.suite import plan_suite

BATCH = 256


def stage_of(message: str) -> str:
    """The stage a progress message belongs to."""
    if "saliency" in message:
        return "saliency"
    if "attack" in message:
        return "attacks"
    if "severity" in message:
        return "corruptions"
    if "clean" in message:
        return "clean"
    return "setup and scoring"


def plain_passes(path: Path, inputs: np.ndarray, copies: list[np.ndarray], plan) -> float:
    """Seconds of the suite's forward and backward passes in this process, without a sandbox.

    The model is loaded afresh, so TorchScript optimises its graphs on the first calls here as
    it does in the sandbox, where every evaluation starts from a newly loaded model.
    """
    torch.set_num_threads(inference_threads())
    model = torch.jit.load(str(path))
    for parameter in model.parameters():
        parameter.requires_grad_(False)

    def forward(x: np.ndarray) -> None:
        with torch.inference_mode():
            for start in range(0, len(x), BATCH):
                model(torch.from_numpy(x[start : start + BATCH]))

    def gradient(x: np.ndarray, times: int = 1) -> None:
        for start in range(0, len(x), BATCH):
            batch = torch.from_numpy(x[start : start + BATCH])
            for _ in range(times):
                point = batch.clone().requires_grad_(True)
                output = model(point)
                torch.autograd.grad(output.logsumexp(dim=1).sum(), point)

    began = time.perf_counter()
    forward(inputs)
    for copy in copies:
        forward(copy)
    for method, _ in plan.attacks:
        if method == "pgd":
            forward(inputs)
            gradient(inputs, 10)
        else:
            gradient(inputs)
        forward(inputs)
    if plan.saliency:
        gradient(inputs)
        for condition in plan.saliency:
            gradient(plan.load(condition))
    return time.perf_counter() - began


def main() -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        BUILDERS["mnist"](root / "mnist")
        benchmark = load_benchmark(root / "mnist")
        cnn = next(item for item in train_baselines(root / "mnist", root / "baselines") if "CNN" in item.name)
        began = time.perf_counter()
        stored = PerturbedSuite.ensure(suite_root(root / "mnist"), benchmark, "test")
        print(f"generating {len(stored.conditions)} corrupted copies of the hidden split (once per version): "
              f"{time.perf_counter() - began:.1f} s")  # fmt: skip
        dataset = EvaluationData.from_folder(benchmark, "test")
        plan = plan_suite(benchmark.spec, stored.conditions, stored.load, content_hash=benchmark.content_hash,
                          split="test")  # fmt: skip
        stages: dict[str, float] = {}
        clock = {"stage": "setup and scoring", "since": time.perf_counter()}

        def progress(fraction: float, message: str) -> None:
            now = time.perf_counter()
            stages[clock["stage"]] = stages.get(clock["stage"], 0.0) + now - clock["since"]
            clock["stage"], clock["since"] = stage_of(message), now

        began = time.perf_counter()
        evaluate_model(cnn.path, dataset, suite=plan, progress=progress, batch_size=BATCH)
        whole = time.perf_counter() - began
        progress(1.0, "done")
        print(f"mnist test split: {len(dataset.data.labels)} items, {plan.steps} conditions, load {load:.2f}")
        for name, seconds in stages.items():
            print(f"{name:>20}: {seconds:6.1f} s")
        copies = [stored.load(condition) for condition in stored.conditions]
        inputs = np.ascontiguousarray(dataset.data.inputs, dtype=np.float32)
        baseline = min(plain_passes(cnn.path, inputs, copies, plan) for _ in range(2))
        print(f"{'plain passes':>20}: {baseline:6.1f} s")
        print(f"whole evaluation {whole:.1f} s")
        print(f"ratio {whole / baseline:.2f}")


if __name__ == "__main__":
    main()
