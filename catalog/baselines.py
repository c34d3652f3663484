"""Baseline models for a benchmark, trained deterministically on its public dev split.

Every benchmark gets a multinomial logistic regression (one linear layer on the flattened
input) and a small non-linear model: a two-block CNN for image inputs ``[C, H, W]``, a
two-hidden-layer MLP for tabular inputs ``[F]``. Each is exported as a TorchScript file that
maps float32 ``[B, *input.shape]`` to logits ``[B, len(classes)]``, the same contract a
researcher's upload meets.

Training reads only ``dev.npz``, and of it only the training part: the version's validation
part (``evaluation.parts.dev_parts``) is held out, so the baselines' local scores on it are
honest estimates. The hidden split never reaches this module. It is reproducible: the seed is ``derive_seed(slug, model name)`` (sha256), torch runs one thread
with deterministic algorithms, and the number of epochs is fixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evaluation.parts import dev_parts
from evaluation.public import load_for_evaluation
from evaluation.seeds import derive_seed
from evaluation.spec import BenchmarkSpec, Split

BATCH_SIZE = 64


@dataclass(frozen=True)
class Baseline:
    """A trained baseline model file."""

    name: str
    """Model name shown on the leaderboard, e.g. ``Logistic regression``."""
    path: Path
    """The TorchScript file."""
    description: str
    """How the model was built and trained, for its submission page."""
    recipe: dict[str, object] = field(default_factory=dict)
    """What trains the same file again: the recipe, its hyperparameters, the seed and the data."""


class LogisticRegression(nn.Module):
    """``logits = W · flatten(x) + b``."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class SmallCNN(nn.Module):
    """Two 3×3 convolution blocks (ReLU, 2×2 max-pool) and a linear classifier."""

    def __init__(self, shape: tuple[int, ...], n_classes: int) -> None:
        super().__init__()
        channels, height, width = shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(16 * (height // 4) * (width // 4), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class MLP(nn.Module):
    """Two hidden layers of 64 ReLU units."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features, 64),
            nn.ReLU(),
            nn.Linear(64, 64),
            nn.ReLU(),
            nn.Linear(64, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


@dataclass(frozen=True)
class Recipe:
    """How to build and train one kind of baseline."""

    name: str
    """Model name on the leaderboard; also part of the training seed."""
    filename: str
    """Name of the TorchScript file in the output folder."""
    make: Callable[[BenchmarkSpec], nn.Module]
    """Builds the untrained model for a benchmark."""
    optimizer: str
    """``lbfgs`` (full batch, ``epochs`` = iterations) or ``adam`` (mini-batches)."""
    epochs: int
    """Passes over the dev split (L-BFGS: the iteration cap)."""
    learning_rate: float
    """Step size of the optimizer."""
    weight_decay: float
    """Strength of the L2 penalty on the parameters."""
    summary: str
    """First sentence of the baseline's description."""


LOGISTIC = Recipe(
    name="Logistic regression",
    filename="logistic-regression.pt",
    make=lambda spec: LogisticRegression(math.prod(spec.input_shape), len(spec.classes)),
    optimizer="lbfgs",
    epochs=100,
    learning_rate=1.0,
    weight_decay=1e-3,
    summary="Multinomial logistic regression: one linear layer on the flattened input.",
)
CNN = Recipe(
    name="Small CNN",
    filename="small-cnn.pt",
    make=lambda spec: SmallCNN(spec.input_shape, len(spec.classes)),
    optimizer="adam",
    epochs=8,
    learning_rate=0.01,
    weight_decay=1e-4,
    summary="Small CNN: two blocks of 3×3 convolution (8 and 16 channels), ReLU and 2×2 "
    "max-pooling, then a linear layer.",
)
MLP_RECIPE = Recipe(
    name="MLP",
    filename="mlp.pt",
    make=lambda spec: MLP(math.prod(spec.input_shape), len(spec.classes)),
    optimizer="adam",
    epochs=60,
    learning_rate=0.003,
    weight_decay=1e-3,
    summary="Multi-layer perceptron with two hidden layers of 64 ReLU units.",
)


def recipes_for(spec: BenchmarkSpec) -> list[Recipe]:
    """The baselines a benchmark gets: logistic regression plus a CNN (images) or MLP."""
    return [LOGISTIC, CNN if len(spec.input_shape) == 3 else MLP_RECIPE]


def dev_validation_part(folder: Path) -> tuple[BenchmarkSpec, Split, np.ndarray]:
    """The spec, the dev split and the mask of its validation part, for a complete version folder
    or the public files ``fetch`` writes (``benchmark.toml``, ``dev.npz``, ``version.json``)."""
    # The content hash keys the validation part; a complete folder computes it, public files
    # carry it in version.json. Either way only the dev split's arrays are read.
    dataset = load_for_evaluation(Path(folder), "dev")
    dev = dataset.data
    parts = dev_parts(
        dev.item_ids,
        content_hash=dataset.content_hash,
        fraction=dataset.spec.validation_fraction,
        clusters=dev.metadata.get("cluster"),
    )
    return dataset.spec, dev, parts["validation"]


def train_baselines(folder: Path, out_dir: Path) -> list[Baseline]:
    """Train every baseline of the benchmark in ``folder`` on the training part of its dev split into ``out_dir``.

    Needs a complete version folder or its public files (``benchmark.toml``, ``dev.npz`` and
    ``version.json``); returns one ``Baseline`` per model, in a fixed order (logistic regression
    first).
    """
    # The hidden split plays no part in training, and neither does the dev split's validation part.
    spec, dev, validation = dev_validation_part(Path(folder))
    train = ~validation
    inputs = torch.from_numpy(np.ascontiguousarray(dev.inputs[train], dtype=np.float32))
    labels = torch.from_numpy(np.ascontiguousarray(dev.labels[train], dtype=np.int64))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    baselines = []
    for recipe in recipes_for(spec):
        seed = derive_seed(spec.slug, recipe.name)
        with deterministic_torch(seed):
            model = recipe.make(spec)
            fit(model, inputs, labels, recipe, seed)
            scripted = torch.jit.script(model.eval())
        path = out_dir / recipe.filename
        torch.jit.save(scripted, str(path))
        description = f"{recipe.summary} {training_summary(recipe, spec, len(labels), int(validation.sum()), seed)}"
        baselines.append(
            Baseline(name=recipe.name, path=path, description=description, recipe=recipe_record(recipe, spec, seed))
        )
    return baselines


def recipe_record(recipe: Recipe, spec: BenchmarkSpec, seed: int) -> dict[str, object]:
    """The recipe of a trained baseline as plain data, for the pin that records its file's hash.

    ``python -m catalog baselines FOLDER OUTDIR`` on the version folder it names trains the same
    file again, byte for byte with the same torch.
    """
    return {
        "recipe": recipe.name,
        "filename": recipe.filename,
        "optimizer": recipe.optimizer,
        "epochs": recipe.epochs,
        "learning_rate": recipe.learning_rate,
        "weight_decay": recipe.weight_decay,
        "batch_size": BATCH_SIZE,
        "seed": seed,
        "trained_on": f"{spec.slug} {spec.version} dev split, training part (validation part held out)",
        "torch": torch.__version__,
    }


def fit(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, recipe: Recipe, seed: int) -> None:
    """Minimise mean cross-entropy with an L2 penalty of strength ``recipe.weight_decay``.

    L-BFGS minimises ``CE + weight_decay / 2 · ||W||²`` (weights, not biases) on the full batch;
    Adam adds ``weight_decay · θ`` to every gradient, its usual form of the same penalty.
    """
    loss_function = nn.CrossEntropyLoss()
    model.train()
    if recipe.optimizer == "lbfgs":
        # A convex problem this small is solved outright on the full batch, which is both
        # faster and closer to the textbook estimator than many small noisy steps.
        lbfgs = torch.optim.LBFGS(
            model.parameters(), lr=recipe.learning_rate, max_iter=recipe.epochs,
            history_size=20, line_search_fn="strong_wolfe",
        )  # fmt: skip

        def closure() -> torch.Tensor:
            lbfgs.zero_grad()
            penalty = sum(p.square().sum() for n, p in model.named_parameters() if "weight" in n)
            loss = loss_function(model(inputs), labels) + recipe.weight_decay / 2 * penalty
            loss.backward()
            return loss

        lbfgs.step(closure)
    else:
        adam = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
        # The shuffling has its own generator so it does not depend on how many random
        # numbers the model's initialisation drew.
        generator = torch.Generator().manual_seed(seed)
        for _ in range(recipe.epochs):
            order = torch.randperm(len(labels), generator=generator)
            for start in range(0, len(labels), BATCH_SIZE):
                batch = order[start : start + BATCH_SIZE]
                adam.zero_grad()
                loss_function(model(inputs[batch]), labels[batch]).backward()
                adam.step()
    model.eval()


def training_summary(recipe: Recipe, spec: BenchmarkSpec, n_items: int, n_held_out: int, seed: int) -> str:
    """One sentence on how a baseline was trained, for its description."""
    if recipe.optimizer == "lbfgs":
        how = f"full-batch L-BFGS ({recipe.epochs} iterations at most, L2 penalty {recipe.weight_decay})"
    else:
        how = (
            f"Adam (learning rate {recipe.learning_rate}, weight decay {recipe.weight_decay}, "
            f"batches of {BATCH_SIZE}) for {recipe.epochs} epochs"
        )
    return (
        f"Trained with {how} on the {n_items}-item training part of the public dev split of {spec.slug} "
        f"{spec.version} (its {n_held_out}-item validation part held out) to minimise cross-entropy; "
        f"seed {seed}, deterministic single-thread torch."
    )


def dev_accuracy(model_path: Path, folder: Path) -> float:
    """Accuracy of a baseline file on the validation part of the dev split, which it never trained
    on (a sanity check of our own models only: submitted models are never loaded in a trusted process)."""
    _, dev, validation = dev_validation_part(Path(folder))
    model = torch.jit.load(str(model_path))
    with torch.no_grad():
        logits = model(torch.from_numpy(np.ascontiguousarray(dev.inputs[validation])))
    return float((logits.argmax(dim=1).numpy() == dev.labels[validation]).mean())


@contextmanager
def deterministic_torch(seed: int) -> Iterator[None]:
    """Seed torch, use one thread and deterministic kernels; restore all of it afterwards."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        # fork_rng restores the global generator, so callers' random streams are untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
