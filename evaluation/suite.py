"""Run one model on every condition of a version's suite: corrupted copies, attacks, saliency.

The runner calls ``run_suite`` in the same sandboxed session as the clean run, once the hidden
inputs have been predicted clean. The corrupted copies are the stored ones
(``evaluation.perturbed``), never regenerated here; the attacks and the saliency maps are
computed inside the sandbox from the model's own clean predictions, so no label enters it. What
comes back is kept as a ``SuiteRecord``: predicted classes per condition and per attack, one
saliency correlation per item and corruption, and the clean pass's timings. Labels meet these
arrays only in ``evaluation.robustness``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from evaluation.perturbed import Condition
from evaluation.robustness import centred_ranks, rank_correlation
from evaluation.sandbox import SandboxedModel
from evaluation.seeds import derive_seed
from evaluation.spec import BenchmarkSpec

Progress = Callable[[float, str], None]

#: The share of a run's progress bar the suite takes, after the clean pass.
PROGRESS_START, PROGRESS_END = 0.25, 0.85


@dataclass(frozen=True)
class SuitePlan:
    """What to run beyond the clean pass, and where the stored corrupted copies come from."""

    conditions: tuple[Condition, ...]
    """Stored corrupted copies to predict, in the spec's order."""
    load: Callable[[Condition], np.ndarray]
    """Returns the stored float32 inputs of one condition (checked against its checksum)."""
    attacks: tuple[tuple[str, float], ...]
    """``(method, eps)`` for every attack the spec declares."""
    saliency: tuple[Condition, ...]
    """For each corruption, the condition whose saliency is compared with the clean one."""
    input_range: tuple[float, float]
    """The declared input range adversarial inputs are clipped to."""
    seed_base: tuple[str, str]
    """``(content_hash, split)``: the attack seeds derive from it."""

    @property
    def steps(self) -> int:
        """Conditions in the whole run, the clean pass included: the ``n`` of "condition k of n"."""
        return 1 + len(self.conditions) + len(self.attacks) + (1 + len(self.saliency) if self.saliency else 0)


def plan_suite(
    spec: BenchmarkSpec,
    conditions: list[Condition],
    load: Callable[[Condition], np.ndarray],
    *,
    content_hash: str,
    split: str,
) -> SuitePlan:
    """The suite of ``spec``: stored ``conditions``, its attacks, and each corruption's mildest severity."""
    attacks = tuple((item.name, eps) for item in spec.perturbations if item.adversarial for eps in item.eps)
    mildest: dict[str, Condition] = {}
    for condition in conditions:
        if condition.name not in mildest or condition.severity < mildest[condition.name].severity:
            mildest[condition.name] = condition
    return SuitePlan(
        conditions=tuple(conditions),
        load=load,
        attacks=attacks,
        saliency=tuple(mildest.values()),
        input_range=spec.input_range,
        seed_base=(content_hash, split),
    )


def attack_seed(content_hash: str, split: str, method: str, eps: float) -> int:
    """The seed of one attack's random start: fixed per version, split, method and budget."""
    return derive_seed(content_hash, "attack", split, method, repr(float(eps)))


@dataclass(frozen=True)
class SuiteRecord:
    """What one run kept of its suite, aligned with the split's items (column ``i`` = item ``i``)."""

    condition_keys: tuple[str, ...]
    """``name-severity`` of each stored condition, in the order of ``corrupted``."""
    corrupted: np.ndarray
    """int16 ``[C, n]``: predicted class under each condition."""
    attack_keys: tuple[str, ...]
    """``method@eps`` of each attack the spec declares, in the order of ``adversarial``'s rows."""
    adversarial: np.ndarray
    """int16 ``[A, n]``: predicted class on each attack's inputs (``A = 0`` when not attackable)."""
    attackable: bool
    attack_reason: str | None
    stability_keys: tuple[str, ...]
    """The corruption of each row of ``stability``."""
    stability: np.ndarray
    """float32 ``[S, n]``: Spearman correlation of clean and corrupted saliency (``NaN`` if undefined)."""
    stability_reason: str | None = None

    def select(self, mask: np.ndarray) -> SuiteRecord:
        """The record restricted to the items of a boolean ``mask``."""
        return SuiteRecord(
            self.condition_keys,
            self.corrupted[:, mask],
            self.attack_keys,
            self.adversarial[:, mask],
            self.attackable,
            self.attack_reason,
            self.stability_keys,
            self.stability[:, mask],
            self.stability_reason,
        )

    @property
    def conditions(self) -> list[tuple[str, int]]:
        """``(name, severity)`` of each stored condition."""
        return [_split_key(key) for key in self.condition_keys]

    @property
    def attacks(self) -> list[tuple[str, float]]:
        """``(method, eps)`` of each attack."""
        return [(key.split("@")[0], float(key.split("@")[1])) for key in self.attack_keys]

    def arrays(self) -> dict[str, np.ndarray]:
        """The record as named arrays for an ``.npz`` (no objects, nothing to unpickle)."""
        return {
            "suite_condition_keys": np.array(self.condition_keys, dtype=str),
            "suite_corrupted": self.corrupted.astype(np.int16),
            "suite_attack_keys": np.array(self.attack_keys, dtype=str),
            "suite_adversarial": self.adversarial.astype(np.int16),
            "suite_attackable": np.array(self.attackable),
            "suite_attack_reason": np.array(self.attack_reason or "", dtype=str),
            "suite_stability_keys": np.array(self.stability_keys, dtype=str),
            "suite_stability": self.stability.astype(np.float32),
            "suite_stability_reason": np.array(self.stability_reason or "", dtype=str),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> SuiteRecord | None:
        """The record ``arrays`` wrote, or ``None`` for a run stored without a suite."""
        if "suite_corrupted" not in arrays:
            return None
        return cls(
            tuple(str(key) for key in arrays["suite_condition_keys"].tolist()),
            arrays["suite_corrupted"],
            tuple(str(key) for key in arrays["suite_attack_keys"].tolist()),
            arrays["suite_adversarial"],
            bool(arrays["suite_attackable"]),
            str(arrays["suite_attack_reason"]) or None,
            tuple(str(key) for key in arrays["suite_stability_keys"].tolist()),
            arrays["suite_stability"],
            str(arrays["suite_stability_reason"]) or None,
        )


def _correlate(clean_ranks: Future[np.ndarray], maps: np.ndarray) -> np.ndarray:
    return rank_correlation(clean_ranks.result(), centred_ranks(maps))


def _split_key(key: str) -> tuple[str, int]:
    name, _, severity = key.rpartition("-")
    return name, int(severity)


def _labelled(plan: SuitePlan) -> Iterator[str]:
    for condition in plan.conditions:
        yield f"{condition.name} severity {condition.severity}"
    for method, eps in plan.attacks:
        yield f"{method} attack at eps {eps:g}"
    if plan.saliency:
        yield "saliency on the clean inputs"
        for condition in plan.saliency:
            yield f"saliency under {condition.name} severity {condition.severity}"


def run_suite(
    model: SandboxedModel,
    plan: SuitePlan,
    clean_inputs: np.ndarray,
    clean_logits: np.ndarray,
    *,
    n_classes: int,
    progress: Progress,
) -> SuiteRecord:
    """Predict every stored condition, attack, and compare saliency, reporting "condition k of n"."""
    labels = iter(_labelled(plan))
    step = [1]

    def advance() -> None:
        step[0] += 1
        fraction = PROGRESS_START + (PROGRESS_END - PROGRESS_START) * (step[0] - 1) / plan.steps
        progress(fraction, f"condition {step[0]} of {plan.steps}: {next(labels)}")

    clean_prediction = clean_logits.argmax(axis=1)
    n_items = clean_inputs.shape[0]
    corrupted = np.empty((len(plan.conditions), n_items), dtype=np.int16)
    # The saliency passes reuse the copies they need rather than reading and checking them twice.
    wanted = {condition.key for condition in plan.saliency}
    stored_copies: dict[str, np.ndarray] = {}
    for row, condition in enumerate(plan.conditions):
        advance()
        copy = plan.load(condition)
        if condition.key in wanted:
            stored_copies[condition.key] = copy
        corrupted[row] = model.predict(copy, n_classes=n_classes).argmax(axis=1)

    adversarial_rows: list[np.ndarray] = []
    attackable, reason = True, None
    low, high = plan.input_range
    for method, eps in plan.attacks:
        advance()
        if not attackable:
            continue
        result = model.attack(
            clean_inputs,
            n_classes=n_classes,
            method=method,
            eps=eps,
            low=low,
            high=high,
            seed=attack_seed(*plan.seed_base, method, eps),
        )
        if not result.attackable or result.logits is None:
            attackable, reason = False, result.reason
            continue
        adversarial_rows.append(result.logits.argmax(axis=1).astype(np.int16))
    adversarial = np.stack(adversarial_rows) if attackable and adversarial_rows else np.empty((0, n_items), np.int16)

    stability = np.full((len(plan.saliency), n_items), np.nan, dtype=np.float32)
    stability_reason = None
    if plan.saliency:
        advance()
        targets = clean_prediction.astype(np.int64)
        clean_maps = model.saliency(clean_inputs, n_classes=n_classes, targets=targets)
        if not clean_maps.usable or clean_maps.maps is None:
            stability_reason = clean_maps.reason
        # Ranking a corruption's maps in this process overlaps the sandbox's next saliency pass
        # (numpy releases the interpreter lock while it sorts); the clean ranks are made once.
        with ThreadPoolExecutor(max_workers=1) as ranking:
            clean_ranks = None if clean_maps.maps is None else ranking.submit(centred_ranks, clean_maps.maps)
            pending: list[tuple[int, Future[np.ndarray]]] = []
            for row, condition in enumerate(plan.saliency):
                advance()
                if stability_reason is not None or clean_ranks is None:
                    continue
                copy = stored_copies[condition.key] if condition.key in stored_copies else plan.load(condition)
                maps = model.saliency(copy, n_classes=n_classes, targets=targets)
                if not maps.usable or maps.maps is None:
                    stability_reason = maps.reason
                    continue
                pending.append((row, ranking.submit(_correlate, clean_ranks, maps.maps)))
            for row, found in pending:
                stability[row] = found.result()
    return SuiteRecord(
        condition_keys=tuple(condition.key for condition in plan.conditions),
        corrupted=corrupted,
        attack_keys=tuple(f"{method}@{eps!r}" for method, eps in plan.attacks),
        adversarial=adversarial,
        attackable=attackable,
        attack_reason=reason,
        stability_keys=tuple(condition.name for condition in plan.saliency),
        stability=stability,
        stability_reason=stability_reason,
    )


@dataclass(frozen=True)
class RunFacts:
    """What the clean pass tells about the model itself: its cost and the kind of its outputs."""

    batch_seconds: np.ndarray
    """float64 ``[B]``: wall time of each clean batch inside the sandbox."""
    batch_items: np.ndarray
    """int64 ``[B]``: items in each clean batch."""
    outputs_are_probabilities: bool
    """Whether the raw outputs were already probabilities (rows non-negative, summing to 1)."""
    parameter_count: int | None
    peak_memory_bytes: int | None
    """The sandbox's measured high-water mark (``None`` when only the child's own report exists)."""
    file_size_bytes: int | None

    def arrays(self) -> dict[str, np.ndarray]:
        """The facts as named arrays for an ``.npz``; ``-1`` stands for an unknown count."""
        return {
            "facts_batch_seconds": np.asarray(self.batch_seconds, dtype=np.float64),
            "facts_batch_items": np.asarray(self.batch_items, dtype=np.int64),
            "facts_outputs_are_probabilities": np.array(self.outputs_are_probabilities),
            "facts_counts": np.array(
                [-1 if value is None else int(value) for value in (self.parameter_count, self.peak_memory_bytes,
                                                                  self.file_size_bytes)],
                dtype=np.int64,
            ),
        }  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> RunFacts | None:
        """The facts ``arrays`` wrote, or ``None`` for a run stored without them."""
        if "facts_batch_seconds" not in arrays:
            return None
        counts = [None if value < 0 else int(value) for value in arrays["facts_counts"].tolist()]
        return cls(
            arrays["facts_batch_seconds"],
            arrays["facts_batch_items"],
            bool(arrays["facts_outputs_are_probabilities"]),
            counts[0],
            counts[1],
            counts[2],
        )
