"""Provenance records: what reproducing a score needs, split into a public and a private part.

The public record holds what anyone needs to reproduce a score (artifact, data, code, package
versions, seeds, architecture, sandbox layers) and a coarse cost. Every figure a model can
influence after it has seen its inputs (latency, memory) is a channel through which a hostile
model could carry those inputs out, so the public record rounds them to two significant figures
and the exact figures, per-batch timings, host details and the plain predictions hash stay in
the private record, which only maintainers see.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import math
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evaluation import EVALUATOR_VERSION
from evaluation.provenance_records import (
    Artifact,
    BenchmarkData,
    Evaluator,
    ExactSandboxFigures,
    Host,
    Inference,
    Platform,
    PrivateProvenance,
    PublicCost,
    PublicProvenance,
)

if TYPE_CHECKING:
    from evaluation.sandbox.limits import SandboxReport

PACKAGES = ("numpy", "scipy", "torch")

COST_DIGITS = 2
"""Significant figures of every public cost figure."""

LATENCY_FLOOR_SECONDS = 1e-6
"""Shorter latencies are published as 0: without a floor, the exponent of a tiny figure (which
a dishonest child could choose freely down to 1e-308) would carry about ten more bits."""

MEMORY_FLOOR_BYTES = 1024**2
"""Smaller peak memory is published as 0, for the same reason (no real run uses less)."""

_LARGEST_COUNT = 2**63 - 1


def significant(value: float, digits: int = 2) -> float:
    """``value`` rounded to ``digits`` significant figures, ties to even (like ``round``).

    Rounds the shortest decimal form of the float (its ``repr``), so that a tie a person sees
    is treated as one: ``significant(0.575)`` is 0.58 (a tie, to the even 8) although the nearest
    float to 0.575 lies a little below it. Zero stays zero; NaN and infinities are refused.
    """
    if digits < 1:
        raise ValueError(f"significant() needs at least one digit, got {digits}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot round {value!r} to significant figures: give a finite number")
    if value == 0:
        return 0.0
    exact = Decimal(repr(value))
    # The place value of the last digit kept: for 123.4 and two digits, 10**1.
    last_place = Decimal(1).scaleb(exact.adjusted() - digits + 1)
    return float(exact.quantize(last_place, rounding=ROUND_HALF_EVEN))


def coarse(value: float | None, *, floor: float, ceiling: float | None = None) -> float | None:
    """A model-influenced figure as the public may see it: two significant figures.

    Values below ``floor`` become 0, which bounds the number of distinct figures (and so the
    bits they can carry). ``None``, non-finite, negative or above-``ceiling`` values publish
    nothing (``None``): the parent validates these figures, and anything that slipped through
    is not worth showing.
    """
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    if not math.isfinite(value) or value < 0 or (ceiling is not None and value > ceiling):
        return None
    if value < floor:
        return 0.0
    return significant(value, COST_DIGITS)


def evaluator_revision() -> str:
    """The git revision of the evaluation code, or ``"unknown"`` outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        completed = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return completed.stdout.strip() if completed.returncode == 0 else "unknown"


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a score depends on."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def _prediction_bytes(probabilities: np.ndarray) -> bytes:
    return np.ascontiguousarray(probabilities, dtype=np.float32).tobytes()


def predictions_hash(probabilities: np.ndarray) -> str:
    """Plain sha256 of the float32 probabilities in C order: equal hashes mean equal predictions.

    Anyone holding a guess of the predictions can check it against this hash, so the site keeps
    it private; on a researcher's own machine it is harmless.
    """
    return hashlib.sha256(_prediction_bytes(probabilities)).hexdigest()


def keyed_predictions_hash(probabilities: np.ndarray, key: bytes) -> str:
    """HMAC-SHA256 of the float32 probabilities under the site's ``key``.

    Equal predictions give equal hashes, so the public can see that two submissions predict
    exactly the same, but without the key nobody can test a guess of the predictions offline.
    """
    if not isinstance(key, bytes) or not key:
        raise ValueError("keyed_predictions_hash needs a non-empty bytes key (derive it from the site's secret)")
    return hmac.new(key, _prediction_bytes(probabilities), hashlib.sha256).hexdigest()


def public_cost(sandbox: SandboxReport) -> PublicCost:
    """Median per-batch latency, peak memory and start-up time at two significant figures.

    Peak memory is published only when the parent measured it (the cgroup's high-water mark);
    a child's report of its own memory is unverifiable and stays private.
    """
    ceiling = sandbox.wall_seconds if sandbox.wall_seconds > 0 else None
    median = statistics.median(sandbox.batch_seconds) if sandbox.batch_seconds else None
    memory = None
    if sandbox.peak_memory_source == "cgroup":
        memory = coarse(sandbox.peak_memory_bytes, floor=MEMORY_FLOOR_BYTES)
    return PublicCost(
        median_batch_seconds=coarse(median, floor=LATENCY_FLOOR_SECONDS, ceiling=ceiling),
        peak_memory_bytes=None if memory is None else int(memory),
        startup_seconds=coarse(sandbox.startup_seconds, floor=LATENCY_FLOOR_SECONDS, ceiling=ceiling),
    )


def _finite(value: object) -> float | None:
    # The parent validates what the child reports; this only keeps a stray NaN from making the
    # record unstorable (JSON columns refuse NaN).
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _LARGEST_COUNT:
        return None
    return value


@dataclass(frozen=True)
class ProvenanceRecords:
    """The two parts of a provenance record."""

    public: PublicProvenance
    """What reproduction needs and the coarse cost: safe to show anyone."""
    private: PrivateProvenance
    """Exact timings and memory, per-batch latencies, host details, the plain predictions hash:
    for maintainers only."""


def build_provenance(
    *,
    model_sha256: str,
    model_format: str,
    benchmark_slug: str,
    benchmark_version: str,
    content_hash: str,
    file_hashes: dict[str, str],
    split: str,
    seeds: dict[str, int],
    sandbox: SandboxReport,
    batch_size: int,
    timings: dict[str, float],
    probabilities: np.ndarray,
    predictions_key: bytes | None = None,
    n_resamples: int | None = None,
) -> ProvenanceRecords:
    """The public and private provenance records of one evaluation (``to_dict`` gives their JSON).

    With a ``predictions_key`` (the server) the public record carries the keyed hash of the
    predictions as ``predictions_hmac_sha256`` and the plain one stays private; without (a
    researcher's own machine) the plain hash is public, as ``predictions_sha256``. ``n_resamples``
    is the ``B`` of the bootstrap intervals, kept so that a reproduction recomputes them alike.
    """
    plain_hash = predictions_hash(probabilities)
    keyed_hash = None if predictions_key is None else keyed_predictions_hash(probabilities, predictions_key)
    public = PublicProvenance(
        # The parameter count is reported by the child once the model is loaded, before it is
        # given any input.
        artifact=Artifact(model_sha256, model_format, _count(sandbox.parameter_count)),
        benchmark=BenchmarkData(benchmark_slug, benchmark_version, content_hash, dict(file_hashes), split),
        evaluator=Evaluator(EVALUATOR_VERSION, evaluator_revision()),
        packages=package_versions(),
        # The architecture matters for bit-exact floats; the kernel and host do not.
        platform=Platform(platform.system(), platform.machine()),
        seeds=dict(seeds),
        sandbox_layers=tuple(sandbox.layers),
        inference=Inference(int(sandbox.items), int(batch_size)),
        cost=public_cost(sandbox),
        predictions_hmac_sha256=keyed_hash,
        predictions_sha256=plain_hash if keyed_hash is None else None,
        bootstrap_resamples=n_resamples,
    )
    private = PrivateProvenance(
        timings=dict(timings),
        sandbox=ExactSandboxFigures(
            startup_seconds=_finite(sandbox.startup_seconds),
            wall_seconds=_finite(sandbox.wall_seconds),
            batch_seconds=tuple(_finite(seconds) for seconds in sandbox.batch_seconds),
            peak_memory_bytes=_count(sandbox.peak_memory_bytes),
            peak_memory_source=str(sandbox.peak_memory_source),
            parameter_count=_count(sandbox.parameter_count),
            model_format=str(sandbox.model_format)[:40],
        ),
        host=Host(platform.node(), platform.release(), sys.executable),
        predictions_sha256=plain_hash,
    )
    return ProvenanceRecords(public=public, private=private)
