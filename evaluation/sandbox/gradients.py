"""The parent's side of the gradient operations: label-free attacks and input-gradient saliency.

``SandboxedModel.attack`` and ``SandboxedModel.saliency`` (``process.py``) send the requests;
this module checks their arguments, defines what they return, and turns what the child said
into words for the researcher. The child computes everything with torch's autograd
(``child.py``, ``adversarial_batch`` and ``saliency``); no label ever enters the sandbox: the
attacked class is the model's own clean prediction, and the saliency targets are the parent's
copy of that prediction.

Once the model has seen hidden inputs, what it can choose about a gradient operation is its
outcome: usable, zero gradients, non-finite gradients, or an exception of one of a few type
names (``_NAMED_EXCEPTIONS``; any other type reads "an exception"). Its text never leaves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import MalformedOutputError
from .replies import NoGradient

METHODS = ("fgsm", "pgd")
MAX_STEPS = 1000
MAX_SEED = 2**63 - 1

ZERO_GRADIENTS = (
    "the model's input gradients are zero for every item (its outputs do not follow its inputs "
    "under autograd: forward() runs under torch.no_grad, or goes through argmax, one-hot or "
    "rounding)"
)
NOT_FINITE = "the model's input gradients are not finite"

# Exception types a reason may name on hidden inputs: what torch models raise in practice
# (``torch.jit.Error`` is what a TorchScript ``raise`` becomes). Each name the model can choose
# is a value it can signal, so the list is short.
_NAMED_EXCEPTIONS = frozenset({"RuntimeError", "NotImplementedError", "torch.jit.Error", "MemoryError"})


@dataclass(frozen=True)
class AttackResult:
    """The model's logits on adversarial inputs, or why it could not be attacked."""

    logits: np.ndarray | None
    """float32 ``[N, n_classes]``: the model's logits on the adversarial inputs; None when not
    attackable."""
    attackable: bool
    reason: str | None
    """Why not, in words for the researcher (None when attackable)."""


@dataclass(frozen=True)
class SaliencyResult:
    """Input-gradient saliency maps, or why they are not usable."""

    maps: np.ndarray | None
    """float32 ``[N, prod(input shape)]``: ``|∂ z_target / ∂x|`` per item, flattened."""
    usable: bool
    reason: str | None


def attack_settings(*, method: str, eps: float, low: float, high: float, seed: int, steps: int) -> dict[str, object]:
    """The attack's fields of a request, checked; raises ValueError naming a bad argument."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    eps, low, high = float(eps), float(low), float(high)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, not {eps!r}")
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"the input range [{low!r}, {high!r}] must be finite with low < high")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2**63 - 1], not {seed!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= int(steps) <= MAX_STEPS:
        raise ValueError(f"steps must be an integer in [1, {MAX_STEPS}], not {steps!r}")
    return {"method": method, "eps": eps, "low": low, "high": high, "steps": int(steps)}


def chunk_seed(seed: int, index: int) -> int:
    """The random-start seed of the ``index``-th chunk of inputs: the seed itself for the first.

    Inputs larger than one chunk are sent in several requests; each gets its own generator so
    that chunks do not share random starts.
    """
    if index == 0:
        return int(seed)
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)
    return int(state[0]) & MAX_SEED


def checked_targets(targets: np.ndarray, *, items: int, n_classes: int) -> np.ndarray:
    """Saliency targets as int64 ``[items]`` in ``[0, n_classes)``; raises ValueError/TypeError."""
    if not isinstance(targets, np.ndarray) or targets.dtype.kind not in "iu":
        raise TypeError("targets must be an integer numpy array (the model's own clean predictions)")
    if targets.shape != (items,):
        raise ValueError(f"targets must have shape [{items}], one class per input, not {list(targets.shape)}")
    if items and (int(targets.min()) < 0 or int(targets.max()) >= n_classes):
        raise ValueError(f"targets must be classes in [0, {n_classes})")
    return np.ascontiguousarray(targets, dtype=np.int64)


def no_gradient_reason(reply: NoGradient, *, hidden: bool) -> str:
    """Why the gradients were unusable, in the site's words; the model's text only if public."""
    if reply.reason == "nonfinite":
        return NOT_FINITE
    if not hidden:
        last = f": {reply.lines[-1][:300]}" if reply.lines else ""
        return f"the model raised {reply.exception} while its input gradients were computed{last}"
    name = reply.exception if reply.exception in _NAMED_EXCEPTIONS else "an exception"
    return f"the model raised {name} while its input gradients were computed"


def saliency_result(maps: np.ndarray) -> SaliencyResult:
    """Judge maps the child wrote (header and size already checked): usable, or why not.

    Absolute values cannot be negative, so a negative one means the output file was tampered
    with, a MalformedOutputError; NaN or Inf, or maps that are zero everywhere, are unusable.
    """
    if not np.isfinite(maps).all():
        return SaliencyResult(maps=None, usable=False, reason=NOT_FINITE)
    if (maps < 0).any():
        raise MalformedOutputError(
            "The model's saliency maps hold negative values, which absolute gradients cannot be."
        )
    if maps.size and not maps.any():
        return SaliencyResult(maps=None, usable=False, reason=ZERO_GRADIENTS)
    return SaliencyResult(maps=maps, usable=True, reason=None)
