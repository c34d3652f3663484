"""Time the two-parameter logistic item fit at the size item telemetry is specified for.

100 entries x 2,000 items simulated as in ``tests/evaluation/test_statistics_irt.py``
(abilities and difficulties standard normal, slopes uniform on [0.5, 2]). The fit is timed
three times and the median kept, since the machine may be shared; the lines before the last
say how well the fit recovered the simulated parameters. The last line printed is
``fit time X.XX s``.

Run: ``python perf/irt.py`` from the repository root.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import special

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluation.seeds import derive_seed
from evaluation.statistics import fit_two_parameter_logistic

N_ENTRIES = 100
N_ITEMS = 2_000
REPEATS = 3


def main() -> None:
    rng = np.random.default_rng(derive_seed("perf", "irt"))
    ability = rng.normal(size=N_ENTRIES)
    difficulty = rng.normal(size=N_ITEMS)
    slope = rng.uniform(0.5, 2.0, size=N_ITEMS)
    responses = (rng.random((N_ENTRIES, N_ITEMS)) < special.expit(slope * (ability[:, None] - difficulty))).astype(
        np.int8
    )
    load = os.getloadavg()[0]
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fit = fit_two_parameter_logistic(responses)
        times.append(time.perf_counter() - start)

    # The fit standardises the abilities; put the truth on the same scale before comparing.
    centre, scale = ability.mean(), ability.std()
    fitted = ~np.isnan(fit.difficulty)
    difficulty_r = np.corrcoef(fit.difficulty[fitted], ((difficulty - centre) / scale)[fitted])[0, 1]
    slope_r = np.corrcoef(fit.discrimination[fitted], (slope * scale)[fitted])[0, 1]
    print(f"load average before timing: {load:.2f} on {os.cpu_count()} cores")
    print(
        f"{N_ENTRIES} entries x {N_ITEMS} items: {fit.iterations} rounds, converged {fit.converged}, "
        f"{int(fitted.sum())} items fitted, {int(fit.possibly_mislabelled.sum())} flagged"
    )
    print(f"correlation with the true difficulties {difficulty_r:.3f}, discriminations {slope_r:.3f}")
    print(f"passes: {', '.join(f'{t:.2f}' for t in times)} s")
    print(f"fit time {float(np.median(times)):.2f} s")


if __name__ == "__main__":
    main()
