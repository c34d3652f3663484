"""``perf/load.py --quick`` on the production stack (PostgreSQL, Redis, waitress, two workers):
readers see no error while uploads drain, every submission is scored exactly once, and the
figures it prints are well formed. Its timings depend on the machine and are not asserted here;
the full run (``python perf/load.py``) reports them against their targets."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.services import ROOT

# Its times matter (a deadline, a latency bound or measured figures): under pytest-xdist it runs
# on one worker with the other files of the "timed" group, never beside them (tests/parallel.py).
pytestmark = [pytest.mark.services, pytest.mark.xdist_group("timed")]


@pytest.fixture(scope="module")
def quick_run() -> tuple[dict, str]:
    completed = subprocess.run(
        [sys.executable, "perf/load.py", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, f"perf/load.py failed:\n{completed.stderr[-4000:]}"
    return json.loads(completed.stdout), completed.stderr


def test_no_reader_sees_an_error_while_the_uploads_drain(quick_run):
    result, _ = quick_run
    for phase in ("idle", "drain"):
        assert result[phase]["errors"] == 0, result[phase]["error_examples"]
        assert result[phase]["page"]["requests"] > 0 and result[phase]["api"]["requests"] > 0


def test_every_submission_ends_scored_exactly_once(quick_run):
    result, _ = quick_run
    settings = result["settings"]
    assert result["scoring"]["submissions"] == settings["submissions"] + settings["teams"]
    assert result["scoring"]["problems"] == []


def test_the_figures_are_printed_and_well_formed(quick_run):
    result, report = quick_run
    for phase in ("idle", "drain"):
        for kind in ("page", "api", "all"):
            figures = result[phase][kind]
            assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"], (phase, kind, figures)
            assert figures["rps"] > 0, (phase, kind, figures)
    assert result["drain"]["drain_seconds"] >= result["drain"]["upload_seconds"] > 0
    assert math.isfinite(result["ratio_p95"]) and result["ratio_p95"] > 0
    for line in ("idle:", "drain:", "page  p50", "api   p50", "scored exactly once: "):
        assert line in report
    assert report.rstrip().splitlines()[-1] == f"ratio {result['ratio_p95']:.2f}"
