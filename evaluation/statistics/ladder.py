"""The parameter-free Ladder (Blum & Hardt, 2015) for live feedback scores.

A team sees a feedback score that moves only when a submission beats the team's current
best by more than the noise of the comparison, so repeated submissions cannot climb the
leaderboard by fitting the feedback part's noise. Everything here is phrased in per-item
losses (lower is better): pass ``1 - correct`` for accuracy and show ``1 - released``.

As in the paper, a released value is the candidate's exact loss on the ``1/n`` grid (for a
0/1 loss that is the loss itself), and it stays inside the loss's range. ``docs/methods.md``
("Live feedback: the Ladder") gives the rule and what a release reveals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The range of a loss that is only bounded below (negative log-likelihood).
NON_NEGATIVE = (0.0, math.inf)


@dataclass(frozen=True)
class LadderDecision:
    """What the Ladder does with one submission."""

    released_value: float
    """The loss shown for the team from now on: the candidate's on the 1/n grid if it beat the
    bar, the previous release otherwise."""
    improved: bool
    """Whether the candidate beat the bar and became the team's best (always True for a
    team's first submission). Its released value can equal the previous one only for a
    continuous loss whose improvement is smaller than the grid step."""


def release_value(loss: float, n_items: int, loss_range: tuple[float, float] = NON_NEGATIVE) -> float:
    """``loss`` on the ``1/n`` grid and inside ``loss_range``: ``clip(round(v n) / n, low, high)``.

    A mean of ``n`` per-item 0/1 losses is already a multiple of ``1/n``, so for accuracy this
    only removes floating-point error; a continuous loss (NLL, Brier) is rounded to the nearest
    multiple of ``1/n``.
    """
    if n_items <= 0:
        raise ValueError(f"A released value needs at least one item; got n = {n_items}.")
    low, high = loss_range
    return min(max(round(loss * n_items) / n_items, low), high)


def beats_bar(best_losses: np.ndarray, new_losses: np.ndarray) -> bool:
    """Whether the candidate's mean loss is below the best's by more than one standard error.

    The authors' rule is ``mean(l) < mean(l*) - s / sqrt(n)`` with ``s`` the sample standard
    deviation (ddof = 1) of ``d = l - l*``. With ``S = sum(d)`` and ``Q = sum(d^2)``,
    ``s^2 / n = (Q - S^2 / n) / (n (n - 1))``, and the rule becomes exactly ``S < 0`` and
    ``S^2 > Q``. That form is computed here: for 0/1 losses ``S`` and ``Q`` are sums of
    integers and exact in floating point, so a candidate that fixes one error of the best and
    changes nothing else (``S = -1``, ``Q = 1``, the boundary) is never decided by rounding.
    With one item ``S^2 = Q`` always: nothing after the first submission is released.
    """
    difference = np.asarray(new_losses, dtype=np.float64) - np.asarray(best_losses, dtype=np.float64)
    total = float(difference.sum())
    return total < 0 and total * total > float(np.dot(difference, difference))


def ladder_step(
    best_losses: np.ndarray | None,
    new_losses: np.ndarray,
    released: float | None,
    *,
    loss_range: tuple[float, float] = NON_NEGATIVE,
) -> LadderDecision:
    """One step of the parameter-free Ladder.

    ``best_losses`` are the per-item losses ``l*`` of the team's current best submission on the
    feedback part (None before its first submission), ``new_losses`` the candidate's ``l``, and
    ``released`` the value ``R`` shown so far. With ``n`` items, ``L = mean(l)``,
    ``L* = mean(l*)`` and ``s`` the sample standard deviation (ddof = 1) of ``l - l*``:

    - first submission: release ``[L]`` and take the candidate as best;
    - if ``L < L* - s / sqrt(n)`` (``beats_bar``): release ``[L]`` and take the candidate as best;
    - otherwise keep ``R`` and the current best,

    where ``[x] = clip(round(x n) / n, low, high)`` (``release_value``). The bar is measured
    from the best's exact loss, as in the authors' reference implementation; the paper's
    ``R_{t-1}`` differs from it by at most ``1/(2n)`` for a continuous loss and not at all for
    a 0/1 loss.
    """
    new_losses = np.asarray(new_losses, dtype=np.float64)
    n_items = new_losses.shape[0]
    if n_items == 0:
        raise ValueError("The Ladder needs at least one feedback item.")
    candidate = release_value(float(new_losses.mean()), n_items, loss_range)
    if best_losses is None or released is None:
        return LadderDecision(candidate, True)
    best_losses = np.asarray(best_losses, dtype=np.float64)
    if best_losses.shape != new_losses.shape:
        raise ValueError(
            f"Best and new losses must cover the same items; got {best_losses.shape} and {new_losses.shape}."
        )
    if beats_bar(best_losses, new_losses):
        return LadderDecision(candidate, True)
    return LadderDecision(released, False)


def ladder_replay(
    losses: Sequence[np.ndarray], *, loss_range: tuple[float, float] = NON_NEGATIVE
) -> list[LadderDecision]:
    """Run ``ladder_step`` over a team's submissions in order; one decision per submission."""
    decisions: list[LadderDecision] = []
    best: np.ndarray | None = None
    released: float | None = None
    for candidate in losses:
        decision = ladder_step(best, candidate, released, loss_range=loss_range)
        if decision.improved:
            best = np.asarray(candidate, dtype=np.float64)
        released = decision.released_value
        decisions.append(decision)
    return decisions
