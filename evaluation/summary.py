"""Breakdowns as text for a terminal: what ``python -m evaluation evaluate`` prints after the scores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _estimate(found: Mapping[str, Any] | None, digits: int = 4) -> str:
    if not found or found.get("value") is None:
        return "—"
    text = f"{found['value']:.{digits}f}"
    if found.get("low") is not None and found.get("high") is not None:
        text += f"  95% CI [{found['low']:.{digits}f}, {found['high']:.{digits}f}]"
    return text


def _corruptions(found: Mapping[str, Any]) -> list[str]:
    reference = found.get("baseline")
    lines = [
        "corruptions" + (f" (CE against {reference})" if reference else " (give --reference for CE and mCE)"),
        f"{'mean accuracy':>16}: {_estimate(found['mean_accuracy'])}",
        f"{'mCE':>16}: {_estimate(found['mce'])}",
        f"{'relative mCE':>16}: {_estimate(found['relative_mce'])}",
        f"{'flip rate':>16}: {_estimate(found['flip_rate'])}",
        f"{'worst case':>16}: {_estimate(found['worst_case'])}  (right clean and under every severity <= 3)",
    ]
    for item in found["items"]:
        accuracies = " ".join(f"{row['value']:.3f}" for row in item["severities"])
        ce = "" if item["ce"] is None else f"  CE {item['ce']:.3f}"
        lines.append(f"{item['name']:>16}: accuracy by severity {accuracies}{ce}")
    return lines


def _adversarial(found: Mapping[str, Any]) -> list[str]:
    if not found["attackable"]:
        return [f"{'attacks':>16}: not attackable ({found['reason']})"]
    return [
        f"{row['name'] + ' eps ' + format(row['eps'], 'g'):>16}: robust accuracy {_estimate(row)}, "
        f"flip rate {row['flip_rate']['value']:.3f}"
        for row in found["attacks"]
    ]


def format_breakdowns(found: Mapping[str, Any]) -> str:
    """The summary of each breakdown, one line per figure, with its interval."""
    calibration = found["calibration"]
    lines = [
        f"breakdowns on the {found['part']} part ({found['n_items']} items)",
        *(f"{name:>16}: {_estimate(calibration[name])}" for name in ("ece", "ece_equal_mass", "brier", "nll")),
    ]
    if calibration["outputs_are_probabilities"]:
        lines.append(
            "warning: the model's outputs already sum to 1 on every item; the evaluator expects logits and applies "
            "softmax itself, so return the logits (drop the final softmax)"
        )
    for column, table in found["slices"].items():
        worst = next(row for row in table["slices"] if row["slice"] == table["worst"])
        lines.append(f"{'worst ' + column:>16}: {worst['slice']} {_estimate(worst)}")
    if found.get("corruptions"):
        lines += _corruptions(found["corruptions"])
    if found.get("adversarial"):
        lines += _adversarial(found["adversarial"])
    stability = found.get("stability")
    if stability:
        lines.append(f"{'saliency rho':>16}: {_estimate(stability['overall'], 2)}  (clean vs mildest corruption)")
    cost = found.get("cost")
    if cost:
        lines.append(
            f"{'latency/item':>16}: {_estimate(cost['latency_ms'], 3)} ms, p95 {cost['latency_ms_p95']} ms, "
            f"{cost['throughput_per_second']} items/s, {cost['parameters']} parameters"
        )
    return "\n".join(lines)
