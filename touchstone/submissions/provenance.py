"""The site's side of provenance records: the predictions key and what the public may see.

``evaluation.provenance`` builds a public and a private record for each run. Pages and the API
show the public one through ``public_provenance``, which keeps only the fields listed here, so
a detail added to the record later (or left in a record stored by an older version) stays
private until someone decides to publish it.
"""

from __future__ import annotations

from django.utils.crypto import salted_hmac

# Fixed forever: changing it (like changing SECRET_KEY) changes every future public hash, so
# equal predictions scored before and after would no longer show equal hashes.
PREDICTIONS_KEY_SALT = "touchstone.submissions.predictions-hash"

# Section → the keys the public may see (None: the whole section, whose values the site and not
# the model chooses). The plain predictions hash, host details and exact or per-batch figures
# are deliberately absent.
PUBLIC_FIELDS: dict[str, tuple[str, ...] | None] = {
    "artifact": ("sha256", "format", "parameter_count"),
    "benchmark": ("slug", "version", "content_hash", "file_hashes", "split"),
    "evaluator": ("version", "revision"),
    "packages": None,
    "platform": ("system", "machine"),
    "seeds": None,
    "bootstrap": ("resamples",),
    "sandbox": ("layers",),
    "inference": ("items", "batch_size"),
    "cost": ("median_batch_seconds", "peak_memory_bytes", "startup_seconds"),
    "predictions_hmac_sha256": None,
}


def predictions_key() -> bytes:
    """The key of the public predictions hash, derived from ``SECRET_KEY`` with a fixed salt.

    Without it nobody can check a guess of a submission's predictions against the public hash.
    """
    return salted_hmac(PREDICTIONS_KEY_SALT, "public predictions hash", algorithm="sha256").digest()


def public_provenance(record: dict) -> dict:
    """The fields of a stored provenance record that anyone may see."""
    public = {}
    for section, keys in PUBLIC_FIELDS.items():
        if section not in record:
            continue
        value = record[section]
        if keys is not None:
            value = {key: value[key] for key in keys if isinstance(value, dict) and key in value}
        public[section] = value
    return public


def _decimal_bytes(count: int) -> str:
    # Decimal units keep the two significant figures visible as such: 120000000 bytes is
    # "120 MB", where binary units would print "114.4 MiB" and suggest precision there is none.
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= size:
            return f"{count / size:g} {unit}"
    return f"{count} bytes"


def cost_summary(record: dict) -> str:
    """The public cost of a run in one sentence, e.g. for the submission page."""
    cost = record.get("cost") or {}
    batch_size = (record.get("inference") or {}).get("batch_size")
    parts = []
    median = cost.get("median_batch_seconds")
    if median is not None:
        parts.append(f"median {median:g} s per batch" + (f" of {batch_size}" if batch_size else ""))
    memory = cost.get("peak_memory_bytes")
    if memory is None:
        parts.append("peak memory not measured by the sandbox")
    else:
        parts.append(f"peak memory {_decimal_bytes(memory)}")
    startup = cost.get("startup_seconds")
    if startup is not None:
        parts.append(f"start-up {startup:g} s")
    return ", ".join(parts)
