"""Where a scored run keeps its per-item probabilities: one ``.npz`` file in private storage.

The worker writes the file before it records the result; recomputes and comparisons read it.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from evaluation.runner import EvaluationReport
from touchstone.storage import fetch_file, write_file_atomically
from touchstone.submissions.models import Submission


def save_outcomes(submission: Submission, report: EvaluationReport, *, run_id: int) -> str:
    """Write the report's per-item probabilities, run facts and suite record; returns the relative path.

    Each run writes its own file (the path names the run), so a run that finishes after it lost
    its submission to another run cannot overwrite the file the scored run's row points to.
    """
    relative = f"outcomes/{submission.pk}/run-{run_id}-{submission.version.content_hash[:16]}-{report.split}.npz"
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {"probabilities": report.probabilities, "item_ids": report.item_ids}
    if report.facts is not None:
        arrays.update(report.facts.arrays())
    if report.suite is not None:
        arrays.update(report.suite.arrays())
    np.savez(buffer, **arrays)
    write_file_atomically(relative, [buffer.getvalue()])
    return relative


def load_outcomes(relative: str) -> dict[str, np.ndarray]:
    """The arrays stored at ``relative`` (``probabilities``, ``item_ids``, and the ``facts_*`` and
    ``suite_*`` arrays of ``evaluation.suite`` when the run kept them); never unpickles."""
    with np.load(fetch_file(relative), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def submission_outcomes(submission: Submission) -> dict[str, np.ndarray]:
    """The stored per-item probabilities (and item ids) of a scored submission."""
    run = submission.scored_run()
    if run is None:
        raise ValueError(f"{submission} has no scored run")
    return load_outcomes(run.outcomes_path)
