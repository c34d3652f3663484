"""Benchmark version folders: ``benchmark.toml`` plus ``dev.npz`` and ``test.npz``.

``parse_spec`` reads and validates the TOML spec; ``load_benchmark`` validates a whole folder
(the spec here, both splits in ``evaluation.splits``) and computes its identity:

``content_hash = sha256(canonical_spec_json + "\\n" + "".join(f"{name}:{sha256(file)}\\n"
for name in ("benchmark.toml", "dev.npz", "test.npz")))``, where ``canonical_spec_json`` is
``BenchmarkSpec.as_dict()`` dumped with sorted keys, compact separators and ASCII escapes.

Every rejection is a ``SpecError`` whose message starts with the file it concerns and names the
offending key or array, so a maintainer can fix the folder without reading this code.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Collection
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.errors import SpecError
from evaluation.metrics import METRICS
from evaluation.splits import (
    HASHED_FILES,
    RESERVED_ARRAYS,
    SPLIT_NAMES,
    BenchmarkFolder,
    Split,
    check_cross_split,
    content_hash,
    read_folder_file,
    read_split,
)

__all__ = [
    "KNOWN_PERTURBATIONS", "BenchmarkFolder", "BenchmarkSpec", "PerturbationSpec", "Split",
    "canonical_spec_json", "load_benchmark", "parse_spec",
]  # fmt: skip

SPEC_FILE = "benchmark.toml"

#: Every perturbation a spec may declare, by the kind of input it applies to. Image
#: perturbations need an input of shape ``[C, H, W]``, tabular ones an input of shape ``[F]``;
#: adversarial ones work on any input and take ``eps`` instead of ``severities``.
KNOWN_PERTURBATIONS: dict[str, str] = {
    "gaussian_noise": "image",
    "blur": "image",
    "occlusion": "image",
    "shift": "image",
    "contrast": "image",
    "salt_and_pepper": "image",
    "feature_noise": "tabular",
    "missing_features": "tabular",
    "fgsm": "adversarial",
    "pgd": "adversarial",
}
SEVERITY_LEVELS = (1, 2, 3, 4, 5)
SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# The semantic-versioning 2.0 grammar: MAJOR.MINOR.PATCH with optional pre-release and build.
SEMVER_PATTERN = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
COLUMN_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
DEFAULT_FEEDBACK_FRACTION = 0.3

_TOP_KEYS = (
    "slug", "version", "title", "description", "license", "source", "task", "classes",
    "changelog", "input", "metrics", "slices", "perturbations", "drift", "hidden",
)  # fmt: skip


@dataclass(frozen=True)
class PerturbationSpec:
    """One entry of the perturbation suite."""

    name: str
    """A key of ``KNOWN_PERTURBATIONS``."""
    severities: tuple[int, ...]
    """Severity levels in ``1..5``, ascending; empty for adversarial perturbations."""
    eps: tuple[float, ...]
    """L∞ budgets in input units, ascending; empty for non-adversarial perturbations."""
    adversarial: bool
    """Whether the perturbation is an attack run inside the sandbox (uses ``eps``)."""


@dataclass(frozen=True)
class BenchmarkSpec:
    """A validated ``benchmark.toml``."""

    slug: str
    """URL name of the benchmark: lowercase letters, digits and single hyphens."""
    version: str
    """Semantic version of this benchmark version, e.g. ``1.0.0``."""
    title: str
    """Human-readable name."""
    description: str
    """What the benchmark measures and how its splits were made."""
    license: str
    """License of the data."""
    source: str
    """Where the data comes from (a citation or URL)."""
    task: str
    """The task; only ``classification`` is supported."""
    classes: tuple[str, ...]
    """Class names; label ``i`` means ``classes[i]``."""
    input_shape: tuple[int, ...]
    """Shape of one input, without the batch dimension."""
    input_dtype: str
    """Data type of inputs; always ``float32``."""
    input_range: tuple[float, float]
    """Closed interval ``(lo, hi)`` that every input value lies in."""
    primary_metric: str
    """Metric that ranks the leaderboard (a key of ``METRICS``)."""
    report_metrics: tuple[str, ...]
    """Metrics reported for every entry, the primary one included."""
    slice_columns: tuple[str, ...]
    """Metadata columns whose values define slices for failure-mode breakdowns."""
    perturbations: tuple[PerturbationSpec, ...]
    """The perturbation suite, in declaration order."""
    era_column: str | None
    """Metadata column holding each item's era for drift analysis, or ``None``."""
    era_order: tuple[str, ...]
    """Eras from oldest to newest; empty without drift."""
    feedback_fraction: float
    """Share of the hidden split whose scores are shown while the version is open."""
    changelog: str
    """What changed from the previous version."""

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain JSON types, with one key per field (tuples become lists)."""
        # A JSON round trip turns the tuples of dataclasses.asdict into lists.
        return json.loads(json.dumps(dataclasses.asdict(self), allow_nan=False))


def canonical_spec_json(spec: BenchmarkSpec) -> str:
    """``spec.as_dict()`` as JSON with sorted keys, compact separators and ASCII escapes."""
    return json.dumps(
        spec.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def parse_spec(text: str) -> BenchmarkSpec:
    """Parse and validate the text of a ``benchmark.toml``; raises ``SpecError`` naming the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{SPEC_FILE}: not valid TOML: {error}") from None
    top = _Table(data, "", _TOP_KEYS)
    slug = top.string(
        "slug", pattern=SLUG_PATTERN, max_length=50,
        expected="lowercase letters, digits and single hyphens (at most 50 characters)",
    )  # fmt: skip
    version = top.string(
        "version", pattern=SEMVER_PATTERN, max_length=40, expected='a semantic version like "1.0.0"'
    )
    title = top.string("title", max_length=200)
    description = top.string("description")
    license_ = top.string("license")
    source = top.string("source")
    task = top.string("task")
    if task != "classification":
        raise SpecError(f'{SPEC_FILE}: task must be "classification", got {_shown(task)}')
    classes = top.string_list("classes", min_length=2)
    # An empty changelog is allowed: a first version has nothing to compare against.
    changelog = top.string("changelog", allow_empty=True)

    input_table = top.table("input", ("shape", "dtype", "range"))
    shape = input_table.positive_int_list("shape")
    dtype = input_table.string("dtype")
    if dtype != "float32":
        raise SpecError(f'{SPEC_FILE}: [input].dtype must be "float32", got {_shown(dtype)}')
    input_range = input_table.number_pair("range")

    metrics_table = top.table("metrics", ("primary", "report"))
    primary = metrics_table.string("primary")
    _check_metric(primary, "[metrics].primary")
    report = metrics_table.string_list("report", min_length=1)
    for index, name in enumerate(report):
        _check_metric(name, f"[metrics].report[{index}]")
    if primary not in report:
        raise SpecError(
            f"{SPEC_FILE}: [metrics].primary {primary!r} must also be listed in [metrics].report"
        )

    slices = top.table("slices", ("columns",), optional=True)
    slice_columns: tuple[str, ...] = ()
    if slices is not None:
        slice_columns = slices.string_list("columns", min_length=0)
        for index, column in enumerate(slice_columns):
            _check_column_name(column, f"[slices].columns[{index}]")

    perturbations = _parse_perturbations(top.take("perturbations", default=[]), shape, input_range)

    drift = top.table("drift", ("era_column", "order"), optional=True)
    era_column: str | None = None
    era_order: tuple[str, ...] = ()
    if drift is not None:
        era_column = drift.string("era_column")
        _check_column_name(era_column, "[drift].era_column")
        era_order = drift.string_list("order", min_length=1)

    hidden = top.table("hidden", ("feedback_fraction",), optional=True)
    feedback_fraction = DEFAULT_FEEDBACK_FRACTION
    if hidden is not None:
        value = hidden.take("feedback_fraction", default=DEFAULT_FEEDBACK_FRACTION)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise SpecError(
                f"{SPEC_FILE}: [hidden].feedback_fraction must be a number strictly between 0 "
                f"and 1, got {_shown(value)}"
            )
        feedback_fraction = float(value)

    return BenchmarkSpec(
        slug=slug,
        version=version,
        title=title,
        description=description,
        license=license_,
        source=source,
        task=task,
        classes=classes,
        input_shape=shape,
        input_dtype=dtype,
        input_range=input_range,
        primary_metric=primary,
        report_metrics=report,
        slice_columns=slice_columns,
        perturbations=perturbations,
        era_column=era_column,
        era_order=era_order,
        feedback_fraction=feedback_fraction,
        changelog=changelog,
    )


def load_benchmark(folder: Path) -> BenchmarkFolder:
    """Validate the spec and both splits of ``folder`` and compute its content hash.

    Raises ``SpecError`` naming the missing file, the malformed key or the malformed array.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(f"{folder}: not a directory; a benchmark folder holds {', '.join(HASHED_FILES)}")
    contents = {name: read_folder_file(folder, name) for name in HASHED_FILES}
    try:
        text = contents[SPEC_FILE].decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(f"{SPEC_FILE}: not UTF-8 text ({error})") from None
    spec = parse_spec(text)
    splits = {name: read_split(contents[f"{name}.npz"], f"{name}.npz", spec) for name in SPLIT_NAMES}
    check_cross_split(splits["dev"], splits["test"], spec)
    file_hashes = {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    return BenchmarkFolder(
        path=folder,
        spec=spec,
        content_hash=content_hash(canonical_spec_json(spec), file_hashes),
        file_hashes=file_hashes,
    )


def _check_metric(name: str, where: str) -> None:
    if name not in METRICS:
        raise SpecError(
            f"{SPEC_FILE}: {where} names an unknown metric {name!r}; known metrics are "
            f"{', '.join(METRICS)}"
        )


def _check_column_name(name: str, where: str) -> None:
    if not COLUMN_PATTERN.fullmatch(name) or name in RESERVED_ARRAYS:
        raise SpecError(
            f"{SPEC_FILE}: {where} must be a column name of lowercase letters, digits and "
            f"underscores starting with a letter, other than {', '.join(RESERVED_ARRAYS)}; "
            f"got {_shown(name)}"
        )


def _parse_perturbations(
    value: Any, shape: tuple[int, ...], input_range: tuple[float, float]
) -> tuple[PerturbationSpec, ...]:
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise SpecError(
            f"{SPEC_FILE}: perturbations must be an array of tables ([[perturbations]] "
            f"entries), got {_shown(value)}"
        )
    result: list[PerturbationSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        where = f"[[perturbations]][{index}]"
        name = entry.get("name")
        if not isinstance(name, str) or name not in KNOWN_PERTURBATIONS:
            raise SpecError(
                f"{SPEC_FILE}: {where}.name must be one of {', '.join(KNOWN_PERTURBATIONS)}, "
                f"got {_shown(name)}"
            )
        if name in seen:
            raise SpecError(f"{SPEC_FILE}: {where}.name {name!r} is declared twice")
        seen.add(name)
        kind = KNOWN_PERTURBATIONS[name]
        if kind == "image" and len(shape) != 3:
            raise SpecError(
                f"{SPEC_FILE}: {where}.name {name!r} is an image perturbation and needs "
                f"[input].shape [C, H, W], got {list(shape)}"
            )
        if kind == "tabular" and len(shape) != 1:
            raise SpecError(
                f"{SPEC_FILE}: {where}.name {name!r} is a tabular perturbation and needs "
                f"[input].shape [F], got {list(shape)}"
            )
        adversarial = kind == "adversarial"
        table = _Table(entry, where, ("name", "eps") if adversarial else ("name", "severities"))
        table.take("name")
        if adversarial:
            eps = _parse_eps(table, where, input_range)
            result.append(PerturbationSpec(name, (), eps, True))
        else:
            severities = table.positive_int_list("severities", allowed=SEVERITY_LEVELS)
            result.append(PerturbationSpec(name, tuple(sorted(severities)), (), False))
    return tuple(result)


def _parse_eps(table: _Table, where: str, input_range: tuple[float, float]) -> tuple[float, ...]:
    value = table.take("eps")
    width = input_range[1] - input_range[0]
    valid = (
        isinstance(value, list)
        and len(value) > 0
        and all(not isinstance(e, bool) and isinstance(e, int | float) for e in value)
        and all(0 < e < width for e in value)
        and len(set(value)) == len(value)
    )
    if not valid:
        raise SpecError(
            f"{SPEC_FILE}: {where}.eps must be a non-empty list of distinct positive numbers "
            f"smaller than the width of [input].range ({width:g}), got {_shown(value)}"
        )
    return tuple(sorted(float(e) for e in value))


_MISSING = object()


class _Table:
    """One TOML table being validated; ``where`` is its name in messages (``[input]``)."""

    def __init__(self, data: Any, where: str, allowed: Collection[str]) -> None:
        if not isinstance(data, dict):
            raise SpecError(f"{SPEC_FILE}: {where} must be a table, got {_shown(data)}")
        # Unknown keys are reported before missing ones, so a misspelt key is named as such
        # rather than as the correctly spelt key being absent.
        unknown = [key for key in data if key not in allowed]
        if unknown:
            key = unknown[0]
            place = f" in {where}" if where else ""
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; allowed: {', '.join(allowed)}"
            raise SpecError(f"{SPEC_FILE}: unknown key {key!r}{place}{hint}")
        self.data, self.where = data, where

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def take(self, key: str, default: Any = _MISSING) -> Any:
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise SpecError(f"{SPEC_FILE}: missing required key {self.name(key)!r}")
        return default

    def fail(self, key: str, expected: str, value: Any) -> SpecError:
        return SpecError(f"{SPEC_FILE}: {self.name(key)} must be {expected}, got {_shown(value)}")

    def table(self, key: str, allowed: Collection[str], optional: bool = False) -> _Table | None:
        value = self.take(key, default=None if optional else _MISSING)
        return None if value is None else _Table(value, f"[{self.name(key)}]", allowed)

    def string(
        self,
        key: str,
        *,
        pattern: re.Pattern[str] | None = None,
        max_length: int | None = None,
        allow_empty: bool = False,
        expected: str = "a non-empty string",
    ) -> str:
        value = self.take(key)
        valid = (
            isinstance(value, str)
            and (allow_empty or value.strip() != "")
            and (max_length is None or len(value) <= max_length)
            and (pattern is None or pattern.fullmatch(value) is not None)
        )
        if not valid:
            raise self.fail(key, "a string" if allow_empty else expected, value)
        return value

    def string_list(self, key: str, *, min_length: int) -> tuple[str, ...]:
        value = self.take(key)
        valid = (
            isinstance(value, list)
            and len(value) >= min_length
            and all(isinstance(item, str) and item.strip() != "" for item in value)
            and len(set(value)) == len(value)
        )
        if not valid:
            amount = {0: "a list of", 1: "a non-empty list of"}.get(min_length, f"a list of at least {min_length}")
            raise self.fail(key, f"{amount} distinct non-empty strings", value)
        return tuple(value)

    def positive_int_list(
        self, key: str, *, allowed: Collection[int] | None = None
    ) -> tuple[int, ...]:
        value = self.take(key)
        # bool is a subclass of int in Python, and TOML's true must not pass as 1.
        valid = (
            isinstance(value, list)
            and len(value) > 0
            and all(isinstance(item, int) and not isinstance(item, bool) for item in value)
            and all(item > 0 and (allowed is None or item in allowed) for item in value)
        )
        if allowed is not None:
            valid = valid and len(set(value)) == len(value)
            expected = f"a non-empty list of distinct integers from {min(allowed)} to {max(allowed)}"
        else:
            expected = "a non-empty list of positive integers"
        if not valid:
            raise self.fail(key, expected, value)
        return tuple(value)

    def number_pair(self, key: str) -> tuple[float, float]:
        value = self.take(key)
        valid = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(item, int | float) and not isinstance(item, bool) for item in value)
            and all(math.isfinite(item) for item in value)
            and value[0] < value[1]
        )
        if not valid:
            raise self.fail(key, "[lo, hi] with finite numbers lo < hi", value)
        return float(value[0]), float(value[1])


def _shown(value: Any) -> str:
    """An offending value as it would look in TOML (JSON is close), shortened for messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)  # Dates and times, which TOML has and JSON lacks.
    return text if len(text) <= 80 else text[:77] + "..."

