"""Hand-built breakdowns and leaderboard summaries in the documented shape, for page tests.

Every key of the breakdowns a submission page can show is filled (``full_breakdowns``), so
the page's charts and tables can be checked without running a corruption suite or an attack.
The numbers are made up but consistent: intervals hold their values, counts add up.
"""

from __future__ import annotations

CLASSES = [str(digit) for digit in range(10)]
CORRUPTIONS = ("gaussian_noise", "contrast", "rotation")


def proportion(value: float, width: float = 0.03, **extra: object) -> dict:
    return {"value": value, "low": max(0.0, value - width), "high": min(1.0, value + width), **extra}


def full_breakdowns(*, shift: float = 0.0, part: str = "feedback") -> dict:
    """Breakdowns with every key present; ``shift`` lowers every accuracy, to tell two apart."""
    n = 200
    confusion = [[18 if t == p else (1 if p == (t + 1) % 10 else 0) for p in range(10)] for t in range(10)]
    recall = [{"class": name, **proportion(0.9 - shift, n=19)} for name in CLASSES]
    reliability = []
    for position in range(15):
        low, high = position / 15, (position + 1) / 15
        count = 20 if position >= 10 else 0
        accuracy = (low + high) / 2 - shift if count else None
        reliability.append(
            {
                "low": low,
                "high": high,
                "count": count,
                "confidence": (low + high) / 2 if count else None,
                "accuracy": accuracy,
                "band_low": accuracy - 0.05 if count else None,
                "band_high": min(1.0, accuracy + 0.05) if count else None,
            }
        )
    items = []
    for position, name in enumerate(CORRUPTIONS):
        severities = []
        for severity in range(1, 6):
            value = 0.9 - 0.08 * severity - 0.02 * position - shift
            severities.append(
                {
                    "severity": severity,
                    "n": n,
                    **proportion(value),
                    "baseline": value - 0.05,
                    "flip_rate": proportion(0.05 * severity, n=n),
                }
            )
        items.append(
            {
                "name": name,
                "kind": "image",
                "description": f"{name} at five severities",
                "ce": 0.9 + 0.1 * position,
                "relative_ce": 0.8 + 0.1 * position,
                "severities": severities,
            }
        )
    return {
        "part": part,
        "n_items": n,
        "accuracy": 0.9 - shift,
        "per_class": {"classes": CLASSES, "confusion": confusion, "recall": recall},
        "slices": {
            "ink": {
                "slices": [
                    {
                        "slice": label,
                        "n": count,
                        **proportion(value - shift),
                        "small": count < 30,
                        "rest": 0.9,
                        "p_value": 0.2,
                        "significantly_below": False,
                    }
                    for label, count, value in (("thin", 120, 0.92), ("thick", 60, 0.86), ("blot", 20, 0.7))
                ],
                "worst": "thick",
            }
        },
        "drift": {
            "eras": [{"era": era, **proportion(0.9 - 0.05 * k - shift, n=50)} for k, era in enumerate("ABCD")],
            "slope": -0.05,
            "slope_low": -0.08,
            "slope_high": -0.02,
        },
        "reliability": reliability,
        "calibration": {
            "ece": proportion(0.042, 0.01),
            "ece_equal_mass": proportion(0.045, 0.01),
            "brier": proportion(0.15, 0.02),
            "nll": proportion(0.41, 0.05),
            "outputs_are_probabilities": False,
        },
        "corruptions": {
            "baseline": "Centroid baseline",
            "items": items,
            "mean_accuracy": proportion(0.62 - shift),
            "mce": proportion(1.0, 0.05),
            "relative_mce": proportion(0.9, 0.05),
            "flip_rate": proportion(0.15),
            "worst_case": proportion(0.4, n=n),
        },
        "adversarial": {
            "attackable": True,
            "reason": None,
            "main": {"name": "pgd", "eps": 0.1},
            "attacks": [
                {
                    "name": attack,
                    "eps": eps,
                    "n": n,
                    **proportion(0.8 - 3 * eps - k * 0.1 - shift),
                    "flip_rate": proportion(0.2, n=n),
                }
                for k, attack in enumerate(("fgsm", "pgd"))
                for eps in (0.05, 0.1, 0.2)
            ],
        },
        "stability": {
            "overall": proportion(0.71, 0.04, n=n),
            "corruptions": [
                {"name": name, "n": n, **proportion(0.7 + 0.05 * k, 0.04)} for k, name in enumerate(CORRUPTIONS)
            ],
        },
        "cost": {
            "file_size_bytes": 42000,
            "parameters": 7900,
            "latency_ms": proportion(0.12, 0.01),
            "latency_ms_p95": 0.19,
            "throughput_per_second": 8300.0,
            "peak_memory_bytes": 310000000,
        },
    }


def without(breakdowns: dict, *keys: str) -> dict:
    """The breakdowns with each of ``keys`` null, as when that part of the suite is not declared."""
    return {**breakdowns, **dict.fromkeys(keys)}


def summary(*, rank: int) -> dict:
    """A leaderboard entry's summary; a lower rank gets the better numbers."""
    return {
        "corrupted_accuracy": proportion(0.7 - 0.1 * rank),
        "mce": proportion(0.8 + 0.1 * rank, 0.05),
        "adversarial_accuracy": proportion(0.5 - 0.1 * rank, name="pgd", eps=0.1),
        "ece": proportion(0.02 * rank, 0.01),
        "worst_slice": proportion(0.6 - 0.1 * rank, slice="ink=thick"),
        "latency_ms": proportion(0.12 * rank, 0.01),
    }
