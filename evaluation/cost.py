"""What a model costs to run, from its clean pass in the sandbox, at two significant figures."""

from __future__ import annotations

import numpy as np
from scipy import stats

from evaluation.provenance import LATENCY_FLOOR_SECONDS, MEMORY_FLOOR_BYTES, coarse, significant
from evaluation.robustness import Proportion


def cost_breakdown(
    batch_seconds: np.ndarray,
    batch_items: np.ndarray,
    *,
    parameter_count: int | None,
    file_size_bytes: int | None,
    peak_memory_bytes: int | None,
) -> dict[str, object]:
    """Latency per item (median with its distribution-free interval, p95), throughput, size, memory.

    Each clean batch gives one latency per item, ``seconds / items``. The median's 95% interval
    is the pair of order statistics ``(x_(j), x_(k))`` with ``j, k`` the binomial(m, 1/2)
    quantiles, which covers the population median without any assumption on the latencies'
    distribution. Every figure is published at two significant figures (``provenance.coarse``):
    they are the model's to influence.
    """
    seconds = np.asarray(batch_seconds, dtype=np.float64)
    items = np.asarray(batch_items, dtype=np.float64)
    keep = (items > 0) & np.isfinite(seconds) & (seconds >= 0)
    per_item_ms = np.sort(seconds[keep] / items[keep]) * 1000.0
    latency: Proportion = {"value": None, "low": None, "high": None}
    p95 = throughput = None
    m = per_item_ms.size
    floor = LATENCY_FLOOR_SECONDS * 1000.0
    if m:
        latency["value"] = coarse(float(np.median(per_item_ms)), floor=floor)
        # With j the 2.5% quantile of Binomial(m, 1/2), P(x_(j) <= median <= x_(m-j+1)) =
        # 1 - 2 P(B <= j - 1) >= 0.95; below six batches no such pair exists.
        rank = int(stats.binom.ppf(0.025, m, 0.5))
        if rank >= 1:
            latency["low"] = coarse(float(per_item_ms[rank - 1]), floor=floor)
            latency["high"] = coarse(float(per_item_ms[m - rank]), floor=floor)
        p95 = coarse(float(np.quantile(per_item_ms, 0.95)), floor=floor)
        total = float(seconds[keep].sum())
        if total > 0:
            throughput = significant(float(items[keep].sum()) / total)
    memory = coarse(peak_memory_bytes, floor=MEMORY_FLOOR_BYTES) if peak_memory_bytes is not None else None
    size = coarse(file_size_bytes, floor=1.0) if file_size_bytes is not None else None
    return {
        "file_size_bytes": None if size is None else int(size),
        "parameters": None if not parameter_count else int(significant(float(parameter_count))),
        "latency_ms": latency,
        "latency_ms_p95": p95,
        "throughput_per_second": throughput,
        "peak_memory_bytes": None if memory is None else int(memory),
    }
