"""The parameter-free Ladder (Blum & Hardt, 2015) for live feedback scores.

A team sees a feedback score that moves only when a submission beats the team's current
best by more than the noise of the comparison, so repeated submissions cannot climb the
leaderboard by fitting the feedback part's noise. Everything here is phrased in per-item
losses (lower is better): pass ``1 - correct`` for accuracy and show ``1 - released``.

The released value is rounded to a multiple of ``1/sqrt(n)`` (``docs/methods.md``, "Live
feedback: the Ladder"); the authors' reference implementation releases the unrounded loss.
The coarser grid leaks less about the feedback items per release, at the price of hiding
improvements smaller than one step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LadderDecision:
    """What the Ladder releases after one submission."""

    released_value: float
    """The loss to show from now on, rounded to a multiple of ``1/sqrt(n)``."""
    improved: bool
    """Whether the shown value changed (always True for a team's first submission)."""
    new_best_is_candidate: bool
    """Whether the caller must store the candidate's per-item losses as the team's best."""


def round_to_grid(value: float, n_items: int) -> float:
    """``value`` rounded to the nearest multiple of ``1/sqrt(n)``: ``round(v √n) / √n``."""
    root = math.sqrt(n_items)
    return round(value * root) / root


def ladder_step(best_losses: np.ndarray | None, new_losses: np.ndarray, released: float | None) -> LadderDecision:
    """One step of the parameter-free Ladder.

    ``best_losses`` are the per-item losses ``l*`` of the team's current best submission on the
    feedback part (None before its first submission), ``new_losses`` the candidate's ``l``, and
    ``released`` the value ``R`` shown so far. With ``n`` items, ``L = mean(l)``,
    ``L* = mean(l*)`` and ``s`` the sample standard deviation (ddof = 1) of ``l - l*``:

    - first submission: release ``[L]`` and take the candidate as best;
    - if ``L < L* - s / sqrt(n)`` (a one-sided paired test at one standard error): release
      ``[L]`` and take the candidate as best;
    - otherwise keep ``R`` and the current best,

    where ``[x]`` rounds to the nearest multiple of ``1/sqrt(n)``. The bar is measured from the
    best's own loss, as in the authors' reference implementation, so where ``R`` happened to
    round does not make the next step easier or harder. A candidate may become the new best
    without the shown value changing when its rounded loss equals ``R``.
    """
    new_losses = np.asarray(new_losses, dtype=np.float64)
    n_items = new_losses.shape[0]
    if n_items == 0:
        raise ValueError("The Ladder needs at least one feedback item.")
    candidate = float(new_losses.mean())
    if best_losses is None or released is None:
        return LadderDecision(round_to_grid(candidate, n_items), True, True)
    best_losses = np.asarray(best_losses, dtype=np.float64)
    if best_losses.shape != new_losses.shape:
        raise ValueError(
            f"Best and new losses must cover the same items; got {best_losses.shape} and {new_losses.shape}."
        )
    spread = float(np.std(new_losses - best_losses, ddof=1)) if n_items > 1 else 0.0
    if candidate < float(best_losses.mean()) - spread / math.sqrt(n_items):
        new_released = round_to_grid(candidate, n_items)
        return LadderDecision(new_released, new_released != released, True)
    return LadderDecision(released, False, False)


def ladder_replay(losses: Sequence[np.ndarray]) -> list[LadderDecision]:
    """Run ``ladder_step`` over a team's submissions in order; one decision per submission.

    Recomputing from the append-only ledger this way gives the same shown values as the
    step-by-step updates did.
    """
    decisions: list[LadderDecision] = []
    best: np.ndarray | None = None
    released: float | None = None
    for candidate in losses:
        decision = ladder_step(best, candidate, released)
        if decision.new_best_is_candidate:
            best = np.asarray(candidate, dtype=np.float64)
        released = decision.released_value
        decisions.append(decision)
    return decisions
