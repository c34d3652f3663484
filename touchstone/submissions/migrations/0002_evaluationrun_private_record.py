"""Split each run's record into a public part and a private part.

Runs recorded before this migration kept exact timings, per-batch latencies, peak memory, host
details and the plain predictions hash in their public provenance. They move to the new
``private_record``; the public record keeps what reproduction needs and a coarse cost. Peak
memory is not published for these runs, because the old record does not say who measured it,
and they get no public predictions hash, because the keyed one needs the stored outcomes.
"""

from __future__ import annotations

import math
import statistics

from django.db import migrations, models

_LATENCY_FLOOR_SECONDS = 1e-6


def _two_figures(value) -> float | None:
    # Self-contained on purpose: a migration must keep giving the same result when the
    # application's code changes later.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    if value < _LATENCY_FLOOR_SECONDS:
        return 0.0
    return float(f"{value:.1e}")


def _split(provenance: dict, sandbox: dict, timings: dict) -> tuple[dict, dict]:
    sandbox = dict(provenance.get("sandbox") or sandbox or {})
    platform = dict(provenance.get("platform") or {})
    batch_seconds = [value for value in sandbox.get("batch_seconds") or [] if isinstance(value, (int, float))]
    public = {
        "artifact": {
            "sha256": (provenance.get("artifact") or {}).get("sha256"),
            "format": sandbox.get("model_format"),
            "parameter_count": sandbox.get("parameter_count"),
        },
        "benchmark": provenance.get("benchmark") or {},
        "evaluator": provenance.get("evaluator") or {},
        "packages": provenance.get("packages") or {},
        "platform": {"system": platform.get("system"), "machine": platform.get("machine")},
        "seeds": provenance.get("seeds") or {},
        "sandbox": {"layers": list(sandbox.get("layers") or [])},
        "inference": {"items": sandbox.get("items"), "batch_size": None},
        "cost": {
            "median_batch_seconds": _two_figures(statistics.median(batch_seconds)) if batch_seconds else None,
            "peak_memory_bytes": None,
            "startup_seconds": _two_figures(sandbox.get("startup_seconds")),
        },
    }
    private = {
        "timings": dict(provenance.get("timings") or timings or {}),
        "sandbox": {
            "startup_seconds": sandbox.get("startup_seconds"),
            "batch_seconds": sandbox.get("batch_seconds") or [],
            "peak_memory_bytes": sandbox.get("peak_memory_bytes"),
            "peak_memory_source": "unknown",
            "parameter_count": sandbox.get("parameter_count"),
            "model_format": sandbox.get("model_format"),
        },
        "host": {
            "release": platform.get("release"),
            "python_executable": platform.get("python_executable"),
        },
        "predictions_sha256": provenance.get("predictions_sha256"),
    }
    return public, private


def split_records(apps, schema_editor) -> None:
    EvaluationRun = apps.get_model("submissions", "EvaluationRun")
    for run in EvaluationRun.objects.exclude(provenance={}).iterator():
        run.provenance, run.private_record = _split(run.provenance, run.sandbox, run.timings)
        run.save(update_fields=["provenance", "private_record"])


class Migration(migrations.Migration):
    dependencies = [
        ("submissions", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="evaluationrun",
            name="private_record",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Exact and per-batch timings, peak memory, host details, plain predictions hash; private.",
            ),
        ),
        # Going back keeps the split records: the exact figures are not put back in public view.
        migrations.RunPython(split_records, migrations.RunPython.noop),
        migrations.RemoveField(model_name="evaluationrun", name="sandbox"),
        migrations.RemoveField(model_name="evaluationrun", name="timings"),
        migrations.AlterField(
            model_name="evaluationrun",
            name="provenance",
            field=models.JSONField(default=dict, help_text="What reproduction needs and the coarse cost; public."),
        ),
        migrations.AlterField(
            model_name="evaluationrun",
            name="worker",
            field=models.CharField(help_text="Host name of the worker; private.", max_length=200),
        ),
    ]
