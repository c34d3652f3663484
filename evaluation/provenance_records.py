"""The public and the private provenance record of a run, as frozen records that round-trip to JSON.

``to_dict`` gives the JSON the site stores and serves, key for key; ``from_dict`` reads it back
and refuses anything ``to_dict`` could not have written, naming the field at fault, so a record
damaged in storage or written by other code is never taken for a real one.
``evaluation.provenance`` builds both records and says why each figure is public or private.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from evaluation.record_fields import Fields, RecordError

JSONObject = dict[str, object]
"""A record as JSON: what ``to_dict`` returns and ``from_dict`` reads."""


@dataclass(frozen=True)
class Artifact:
    """The model file that was scored."""

    sha256: str
    """Hex sha256 of the file's bytes."""
    format: str
    """"torchscript" or "torch.export"."""
    parameter_count: int | None
    """Parameters of the loaded model, reported by the child before it was given any input."""

    def to_dict(self) -> JSONObject:
        """``{"sha256", "format", "parameter_count"}``."""
        return {"sha256": self.sha256, "format": self.format, "parameter_count": self.parameter_count}

    @classmethod
    def _read(cls, fields: Fields) -> Artifact:
        return cls(fields.text("sha256"), fields.text("format"), fields.optional_count("parameter_count"))


@dataclass(frozen=True)
class BenchmarkData:
    """The exact data a run was scored on."""

    slug: str
    """The benchmark's slug."""
    version: str
    """The benchmark version."""
    content_hash: str
    """The version's content hash (``evaluation.spec``)."""
    file_hashes: Mapping[str, str]
    """Hex sha256 of each file of the version folder, by file name."""
    split: str
    """The split that was scored: "dev" or "test"."""

    def to_dict(self) -> JSONObject:
        """``{"slug", "version", "content_hash", "file_hashes", "split"}``."""
        return {
            "slug": self.slug,
            "version": self.version,
            "content_hash": self.content_hash,
            "file_hashes": dict(self.file_hashes),
            "split": self.split,
        }

    @classmethod
    def _read(cls, fields: Fields) -> BenchmarkData:
        return cls(
            slug=fields.text("slug"),
            version=fields.text("version"),
            content_hash=fields.text("content_hash"),
            file_hashes=fields.text_map("file_hashes"),
            split=fields.text("split"),
        )


@dataclass(frozen=True)
class Platform:
    """What of the machine matters for bit-exact floats: the architecture, not the host."""

    system: str
    """``platform.system()``, e.g. "Linux"."""
    machine: str
    """``platform.machine()``, e.g. "x86_64"."""

    def to_dict(self) -> JSONObject:
        """``{"system", "machine"}``."""
        return {"system": self.system, "machine": self.machine}

    @classmethod
    def _read(cls, fields: Fields) -> Platform:
        return cls(fields.text("system"), fields.text("machine"))


@dataclass(frozen=True)
class Evaluator:
    """The code that computed the score."""

    version: str
    """``evaluation.EVALUATOR_VERSION``."""
    revision: str
    """The git revision of the evaluation code, or "unknown" outside a checkout."""

    def to_dict(self) -> JSONObject:
        """``{"version", "revision"}``."""
        return {"version": self.version, "revision": self.revision}

    @classmethod
    def _read(cls, fields: Fields) -> Evaluator:
        return cls(fields.text("version"), fields.text("revision"))


@dataclass(frozen=True)
class Inference:
    """How the model was run."""

    items: int
    """Number of inputs the model predicted."""
    batch_size: int
    """Inputs per batch."""

    def to_dict(self) -> JSONObject:
        """``{"items", "batch_size"}``."""
        return {"items": self.items, "batch_size": self.batch_size}

    @classmethod
    def _read(cls, fields: Fields) -> Inference:
        return cls(fields.count("items"), fields.count("batch_size"))


@dataclass(frozen=True)
class PublicCost:
    """The cost of a run as the public sees it: two significant figures or nothing (``None``)."""

    median_batch_seconds: float | None
    """Median latency of one batch."""
    peak_memory_bytes: int | None
    """Peak memory of the sandboxed child, published only when the parent measured it."""
    startup_seconds: float | None
    """From starting the child to the model being loaded."""

    def to_dict(self) -> JSONObject:
        """``{"median_batch_seconds", "peak_memory_bytes", "startup_seconds"}``."""
        return {
            "median_batch_seconds": self.median_batch_seconds,
            "peak_memory_bytes": self.peak_memory_bytes,
            "startup_seconds": self.startup_seconds,
        }

    @classmethod
    def _read(cls, fields: Fields) -> PublicCost:
        return cls(
            median_batch_seconds=fields.optional_number("median_batch_seconds"),
            peak_memory_bytes=fields.optional_count("peak_memory_bytes"),
            startup_seconds=fields.optional_number("startup_seconds"),
        )


_PUBLIC_SECTIONS = (
    "artifact", "benchmark", "evaluator", "packages", "platform", "seeds", "sandbox", "inference", "cost",
)  # fmt: skip
_KEYED_HASH = "predictions_hmac_sha256"
_PLAIN_HASH = "predictions_sha256"
_BOOTSTRAP = "bootstrap"


@dataclass(frozen=True)
class PublicProvenance:
    """What anyone needs to reproduce a score, and its coarse cost: safe to show anyone.

    Exactly one predictions hash is set: the site's keyed one, or on a researcher's own machine
    (where there is no key) the plain one.
    """

    artifact: Artifact
    """The model file."""
    benchmark: BenchmarkData
    """The data it was scored on."""
    evaluator: Evaluator
    """The code that computed the score."""
    packages: Mapping[str, str]
    """Versions of Python and of the packages a score depends on."""
    platform: Platform
    """The architecture the run used."""
    seeds: Mapping[str, int]
    """The seed of each random step, by name."""
    sandbox_layers: tuple[str, ...]
    """The protection layers that were active (the JSON's ``sandbox.layers``)."""
    inference: Inference
    """How the model was run."""
    cost: PublicCost
    """The coarse cost."""
    predictions_hmac_sha256: str | None = None
    """HMAC-SHA256 of the predictions under the site's key."""
    predictions_sha256: str | None = None
    """Plain sha256 of the predictions, published only where there is no site key."""
    bootstrap_resamples: int | None = None
    """Resamples ``B`` of every bootstrap interval (the JSON's ``bootstrap.resamples``); ``None``
    in records written before it was kept, whose intervals used the site's setting of the time."""

    def __post_init__(self) -> None:
        if (self.predictions_hmac_sha256 is None) == (self.predictions_sha256 is None):
            raise ValueError(
                "a public provenance record carries exactly one predictions hash: the keyed one "
                "(predictions_hmac_sha256) on the site, the plain one (predictions_sha256) locally"
            )

    def to_dict(self) -> JSONObject:
        """The record as the site stores and serves it, in the order the sections are shown."""
        record: JSONObject = {
            "artifact": self.artifact.to_dict(),
            "benchmark": self.benchmark.to_dict(),
            "evaluator": self.evaluator.to_dict(),
            "packages": dict(self.packages),
            "platform": self.platform.to_dict(),
            "seeds": dict(self.seeds),
        }
        if self.bootstrap_resamples is not None:
            record[_BOOTSTRAP] = {"resamples": self.bootstrap_resamples}
        record |= {
            "sandbox": {"layers": list(self.sandbox_layers)},
            "inference": self.inference.to_dict(),
            "cost": self.cost.to_dict(),
        }
        if self.predictions_hmac_sha256 is not None:
            record[_KEYED_HASH] = self.predictions_hmac_sha256
        else:
            record[_PLAIN_HASH] = self.predictions_sha256
        return record

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PublicProvenance:
        """The record ``to_dict`` wrote; raises ``RecordError`` naming the field at fault."""
        optional = (_KEYED_HASH, _PLAIN_HASH, _BOOTSTRAP)
        present = [key for key in optional if key in data] if isinstance(data, Mapping) else []
        hashes = [key for key in present if key != _BOOTSTRAP]
        record = Fields(data, "public provenance record", "", (*_PUBLIC_SECTIONS, *present))
        if len(hashes) != 1:
            raise RecordError(
                f"public provenance record: needs exactly one of {_KEYED_HASH} (the site's keyed hash) "
                f"and {_PLAIN_HASH} (the plain hash of a local run), found {len(hashes)}"
            )
        return cls(
            artifact=Artifact._read(record.section("artifact", ("sha256", "format", "parameter_count"))),
            benchmark=BenchmarkData._read(
                record.section("benchmark", ("slug", "version", "content_hash", "file_hashes", "split"))
            ),
            evaluator=Evaluator._read(record.section("evaluator", ("version", "revision"))),
            packages=record.text_map("packages"),
            platform=Platform._read(record.section("platform", ("system", "machine"))),
            seeds=record.count_map("seeds"),
            sandbox_layers=record.section("sandbox", ("layers",)).texts("layers"),
            inference=Inference._read(record.section("inference", ("items", "batch_size"))),
            cost=PublicCost._read(
                record.section("cost", ("median_batch_seconds", "peak_memory_bytes", "startup_seconds"))
            ),
            predictions_hmac_sha256=record.text(_KEYED_HASH) if _KEYED_HASH in hashes else None,
            predictions_sha256=record.text(_PLAIN_HASH) if _PLAIN_HASH in hashes else None,
            bootstrap_resamples=(
                record.section(_BOOTSTRAP, ("resamples",)).count("resamples") if _BOOTSTRAP in present else None
            ),
        )


_EXACT_SANDBOX_FIELDS = (
    "startup_seconds", "wall_seconds", "batch_seconds", "peak_memory_bytes", "peak_memory_source",
    "parameter_count", "model_format",
)  # fmt: skip


@dataclass(frozen=True)
class ExactSandboxFigures:
    """What the sandbox measured, exactly; ``None`` where a figure was not a sane number."""

    startup_seconds: float | None
    """From starting the child to the model being loaded."""
    wall_seconds: float | None
    """Wall-clock time of the whole session, measured by the parent."""
    batch_seconds: tuple[float | None, ...]
    """Latency of every batch, in order, as timed inside the child."""
    peak_memory_bytes: int | None
    """Peak memory of the child."""
    peak_memory_source: str
    """Who measured the peak: "cgroup" (the parent) or "child" (the child's own report)."""
    parameter_count: int | None
    """Parameters of the loaded model."""
    model_format: str
    """The format the child loaded."""

    def to_dict(self) -> JSONObject:
        """One key per field; ``batch_seconds`` as a list."""
        return {
            "startup_seconds": self.startup_seconds,
            "wall_seconds": self.wall_seconds,
            "batch_seconds": list(self.batch_seconds),
            "peak_memory_bytes": self.peak_memory_bytes,
            "peak_memory_source": self.peak_memory_source,
            "parameter_count": self.parameter_count,
            "model_format": self.model_format,
        }

    @classmethod
    def _read(cls, fields: Fields) -> ExactSandboxFigures:
        return cls(
            startup_seconds=fields.optional_number("startup_seconds"),
            wall_seconds=fields.optional_number("wall_seconds"),
            batch_seconds=fields.optional_numbers("batch_seconds"),
            peak_memory_bytes=fields.optional_count("peak_memory_bytes"),
            peak_memory_source=fields.text("peak_memory_source"),
            parameter_count=fields.optional_count("parameter_count"),
            model_format=fields.text("model_format"),
        )


@dataclass(frozen=True)
class Host:
    """The worker that ran the evaluation."""

    hostname: str
    """``platform.node()``."""
    release: str
    """The kernel release, ``platform.release()``."""
    python_executable: str
    """The interpreter's path, ``sys.executable``."""

    def to_dict(self) -> JSONObject:
        """``{"hostname", "release", "python_executable"}``."""
        return {"hostname": self.hostname, "release": self.release, "python_executable": self.python_executable}

    @classmethod
    def _read(cls, fields: Fields) -> Host:
        return cls(fields.text("hostname"), fields.text("release"), fields.text("python_executable"))


@dataclass(frozen=True)
class PrivateProvenance:
    """Exact timings and memory, per-batch latencies, host details and the plain predictions
    hash: for maintainers only (``evaluation.provenance`` says why)."""

    timings: Mapping[str, float]
    """Seconds the evaluator spent, by step."""
    sandbox: ExactSandboxFigures
    """What the sandbox measured."""
    host: Host
    """The worker's host."""
    predictions_sha256: str
    """Plain sha256 of the predictions: anyone holding a guess of them could check it."""

    def to_dict(self) -> JSONObject:
        """``{"timings", "sandbox", "host", "predictions_sha256"}``."""
        return {
            "timings": dict(self.timings),
            "sandbox": self.sandbox.to_dict(),
            "host": self.host.to_dict(),
            "predictions_sha256": self.predictions_sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PrivateProvenance:
        """The record ``to_dict`` wrote; raises ``RecordError`` naming the field at fault."""
        record = Fields(data, "private provenance record", "", ("timings", "sandbox", "host", "predictions_sha256"))
        return cls(
            timings=record.number_map("timings"),
            sandbox=ExactSandboxFigures._read(record.section("sandbox", _EXACT_SANDBOX_FIELDS)),
            host=Host._read(record.section("host", ("hostname", "release", "python_executable"))),
            predictions_sha256=record.text("predictions_sha256"),
        )
