"""Comparing a run with its reproduction: predictions bit for bit, metrics, suite, environment.

A reproduction runs the same model file on the same data with the recorded settings. Each
comparison here gives a ``Check``: what was compared, whether it matches exactly, and in words
what differs. Nothing is compared with a tolerance: the evaluator promises identical float32
probabilities on the same architecture with the same packages, and every metric and interval
is a deterministic function of them and of the recorded seeds and resamples, so a difference of
one bit is a finding. What changed in the environment since the run (evaluator, packages,
architecture) is listed beside the checks, because it explains a difference without being one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from evaluation.suite import SuiteRecord

IntervalDict = Mapping[str, float]
"""``{"value", "ci_low", "ci_high"}`` as ``Interval.to_dict`` writes it."""


@dataclass(frozen=True)
class Check:
    """One comparison between the run and its reproduction."""

    name: str
    """What was compared, e.g. "predictions" or "final accuracy"."""
    matches: bool
    """Whether the two agree exactly."""
    detail: str
    """In words: what agrees, or what differs and by how much."""

    def to_dict(self) -> dict[str, object]:
        """``{"name", "matches", "detail"}``."""
        return {"name": self.name, "matches": self.matches, "detail": self.detail}


@dataclass(frozen=True)
class Reproduction:
    """The outcome of reproducing one run: every check, and what changed around it."""

    run: Mapping[str, object]
    """What identifies the run (ids, benchmark, version, split), for the report's heading."""
    checks: tuple[Check, ...]
    """Every comparison made, in the order they are reported."""
    changes: tuple[str, ...] = field(default_factory=tuple)
    """What differs in the environment since the run, from its provenance record."""

    @property
    def matches(self) -> bool:
        """Whether every check matches (and at least one was made)."""
        return bool(self.checks) and all(check.matches for check in self.checks)

    @property
    def differences(self) -> list[Check]:
        """The checks that do not match."""
        return [check for check in self.checks if not check.matches]

    def to_dict(self) -> dict[str, object]:
        """The report as JSON: ``{"run", "matches", "checks", "environment_changes"}``."""
        return {
            "run": dict(self.run),
            "matches": self.matches,
            "checks": [check.to_dict() for check in self.checks],
            "environment_changes": list(self.changes),
        }


def compare_probabilities(stored: np.ndarray, reproduced: np.ndarray) -> Check:
    """Whether two probability arrays are identical bit for bit as float32.

    The bytes are compared, not the values, so ``-0.0`` against ``0.0`` or two different NaNs
    count as differences. When the shapes agree the detail counts the items (rows) that differ
    and gives the largest absolute difference.
    """
    name = "predictions"
    left = np.ascontiguousarray(stored)
    right = np.ascontiguousarray(reproduced)
    if left.dtype != np.float32 or right.dtype != np.float32:
        return Check(name, False, f"expected float32 probabilities, found {left.dtype} stored and {right.dtype} now")
    if left.shape != right.shape:
        return Check(name, False, f"the stored probabilities have shape {left.shape}, the reproduction {right.shape}")
    if left.ndim != 2:
        return Check(name, False, f"expected [items, classes] probabilities, found shape {left.shape}")
    unequal = left.view(np.uint32) != right.view(np.uint32)
    rows = np.flatnonzero(unequal.any(axis=1))
    shape = f"{left.shape[0]} × {left.shape[1]} float32 probabilities"
    if rows.size == 0:
        return Check(name, True, f"all {shape} are identical bit for bit")
    largest = float(np.nanmax(np.abs(left.astype(np.float64) - right.astype(np.float64)), initial=0.0))
    first = ", ".join(str(int(row)) for row in rows[:5]) + (", …" if rows.size > 5 else "")
    return Check(
        name,
        False,
        f"{rows.size} of {left.shape[0]} items differ (rows {first}); largest absolute difference {largest:.3g}",
    )


def compare_values(name: str, recorded: object, reproduced: object, *, what: str = "") -> Check:
    """Whether a recorded value (a hash, a seed, an identity) equals the reproduced one.

    Two mappings (file hashes by name, seeds by part) are compared key by key, and the detail
    names the keys whose values differ or that only one side has.
    """
    subject = f" {what}" if what else ""
    if isinstance(recorded, Mapping) and isinstance(reproduced, Mapping):
        keys = list(recorded) + [key for key in reproduced if key not in recorded]
        differing = [str(key) for key in keys if key not in recorded or key not in reproduced
                     or recorded[key] != reproduced[key]]  # fmt: skip
        if not differing:
            return Check(name, True, f"the same{subject} for all {len(keys)}: {', '.join(map(str, keys))}")
        return Check(name, False, f"different{subject} for {', '.join(differing)}")
    if recorded == reproduced:
        return Check(name, True, f"the same{subject}: {_shown(recorded)}")
    return Check(name, False, f"recorded{subject} {_shown(recorded)}, reproduced {_shown(reproduced)}")


def compare_metrics(
    stored: Mapping[str, Mapping[str, IntervalDict]], reproduced: Mapping[str, Mapping[str, IntervalDict]]
) -> list[Check]:
    """One check per part and metric: value and both interval bounds must be equal floats.

    ``stored`` and ``reproduced`` map part → metric → interval. A metric stored but not
    reproduced, or reproduced but never stored, is a difference too.
    """
    checks = []
    parts = list(stored) + [part for part in reproduced if part not in stored]
    for part in parts:
        old, new = stored.get(part, {}), reproduced.get(part, {})
        for metric in list(old) + [name for name in new if name not in old]:
            name = f"{part} {metric}"
            if metric not in new:
                checks.append(Check(name, False, f"stored as {_interval(old[metric])} but not reproduced"))
            elif metric not in old:
                checks.append(Check(name, False, f"reproduced as {_interval(new[metric])} but never stored"))
            elif all(float(old[metric][key]) == float(new[metric][key]) for key in ("value", "ci_low", "ci_high")):
                checks.append(Check(name, True, f"{_interval(old[metric])}, value and interval identical"))
            else:
                checks.append(
                    Check(name, False, f"stored {_interval(old[metric])}, reproduced {_interval(new[metric])}")
                )
    return checks


def compare_suites(stored: SuiteRecord | None, reproduced: SuiteRecord | None) -> list[Check]:
    """The suite's predicted classes under each stored condition and each attack, and the saliency
    correlations (bit for bit, NaN where undefined on both sides); nothing when neither run had one."""
    if stored is None and reproduced is None:
        return []
    if stored is None or reproduced is None:
        had, lacks = ("the run", "the reproduction") if stored is not None else ("the reproduction", "the run")
        return [Check("robustness suite", False, f"{had} has a robustness suite and {lacks} has none")]
    checks = [
        _compare_classes("suite conditions", stored.condition_keys, stored.corrupted, reproduced.condition_keys,
                         reproduced.corrupted),
    ]  # fmt: skip
    if stored.attackable != reproduced.attackable:
        checks.append(
            Check(
                "suite attacks",
                False,
                f"the run was {'' if stored.attackable else 'not '}attackable ({stored.attack_reason or 'no reason'}), "
                f"the reproduction {'' if reproduced.attackable else 'not '}({reproduced.attack_reason or 'no reason'})",
            )
        )
    else:
        checks.append(
            _compare_classes(
                "suite attacks", stored.attack_keys, stored.adversarial, reproduced.attack_keys, reproduced.adversarial
            )
        )
    checks.append(_compare_stability(stored, reproduced))
    return checks


def environment_changes(
    recorded: Mapping[str, object], current: Mapping[str, object], *, recorded_resamples: int | None, resamples: int
) -> list[str]:
    """What differs between a run's public provenance and the reproduction's, in sentences.

    Compares the evaluator's version and revision, the versions of Python and of the packages a
    score depends on, and the platform. These explain a difference but are not one: a new git
    revision with the same predictions is a faithful reproduction.
    """
    changes = []
    old_evaluator, new_evaluator = _section(recorded, "evaluator"), _section(current, "evaluator")
    for key, label in (("version", "evaluator version"), ("revision", "evaluator revision")):
        if old_evaluator.get(key) != new_evaluator.get(key):
            changes.append(f"{label} changed since the run: {old_evaluator.get(key)} → {new_evaluator.get(key)}")
    old_packages, new_packages = _section(recorded, "packages"), _section(current, "packages")
    for package in sorted(set(old_packages) | set(new_packages)):
        if old_packages.get(package) != new_packages.get(package):
            before, after = old_packages.get(package, "not recorded"), new_packages.get(package, "not recorded")
            changes.append(f"{package} changed since the run: {before} → {after}")
    old_platform, new_platform = _section(recorded, "platform"), _section(current, "platform")
    if old_platform != new_platform:
        changes.append(
            f"the platform differs: the run used {_platform(old_platform)}, the reproduction {_platform(new_platform)}"
        )
    if recorded_resamples is None:
        changes.append(
            f"the run's record does not say how many bootstrap resamples its intervals used; "
            f"the reproduction used the site's current setting, {resamples}"
        )
    return changes


def _compare_classes(
    name: str, old_keys: tuple[str, ...], old: np.ndarray, new_keys: tuple[str, ...], new: np.ndarray
) -> Check:
    if old_keys != new_keys:
        return Check(name, False, f"the run had {list(old_keys)}, the reproduction {list(new_keys)}")
    if old.shape != new.shape:
        return Check(name, False, f"the run kept classes of shape {old.shape}, the reproduction {new.shape}")
    if not old_keys:
        return Check(name, True, "none declared")
    differing = [
        f"{key} ({int(count)} items)" for key, count in zip(old_keys, (old != new).sum(axis=1), strict=True) if count
    ]
    if not differing:
        return Check(name, True, f"predicted classes identical under all {len(old_keys)}")
    return Check(name, False, "predicted classes differ under " + ", ".join(differing))


def _compare_stability(stored: SuiteRecord, reproduced: SuiteRecord) -> Check:
    name = "suite saliency"
    old, new = np.asarray(stored.stability, np.float32), np.asarray(reproduced.stability, np.float32)
    if stored.stability_keys != reproduced.stability_keys or old.shape != new.shape:
        return Check(name, False, f"the run compared {list(stored.stability_keys)} ({old.shape}), "
                                  f"the reproduction {list(reproduced.stability_keys)} ({new.shape})")  # fmt: skip
    if stored.stability_reason != reproduced.stability_reason:
        return Check(name, False, f"the run said {stored.stability_reason!r}, the reproduction "
                                  f"{reproduced.stability_reason!r}")  # fmt: skip
    # NaN marks an undefined correlation: the same NaN on both sides is agreement.
    unequal = (old.view(np.uint32) != new.view(np.uint32)) & ~(np.isnan(old) & np.isnan(new))
    if not unequal.any():
        return Check(name, True, f"rank correlations identical for {len(stored.stability_keys)} corruptions")
    return Check(name, False, f"{int(unequal.any(axis=0).sum())} items' saliency correlations differ")


def _section(record: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = record.get(key)
    return value if isinstance(value, Mapping) else {}


def _platform(section: Mapping[str, object]) -> str:
    return f"{section.get('system', '?')} {section.get('machine', '?')}"


def _interval(interval: IntervalDict) -> str:
    return f"{float(interval['value']):.6g} [{float(interval['ci_low']):.6g}, {float(interval['ci_high']):.6g}]"


def _shown(value: object) -> str:
    if isinstance(value, str) and len(value) > 20:
        return value[:16] + "…"
    return str(value)
