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

import dataclasses
import difflib
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Callable, Collection
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
    "KNOWN_PERTURBATIONS", "PERTURBATION_ALIASES", "BenchmarkFolder", "BenchmarkSpec", "Datasheet", "PerturbationSpec",
    "Split",
    "canonical_spec_json", "load_benchmark", "load_dev_split", "parse_spec",
]  # fmt: skip

SPEC_FILE = "benchmark.toml"

#: Every perturbation a spec may declare, by the kind of input it applies to. Image
#: perturbations need an input of shape ``[C, H, W]``, tabular ones an input of shape ``[F]``;
#: adversarial ones work on any input and take ``eps`` instead of ``severities``.
KNOWN_PERTURBATIONS: dict[str, str] = {
    "gaussian_noise": "image",
    "shot_noise": "image",
    "impulse_noise": "image",
    "gaussian_blur": "image",
    "motion_blur": "image",
    "contrast": "image",
    "brightness": "image",
    "occlusion": "image",
    "translation": "image",
    "rotation": "image",
    "scale": "image",
    "elastic": "image",
    "blur": "image",
    "shift": "image",
    "salt_and_pepper": "image",
    "feature_noise": "tabular",
    "missing_features": "tabular",
    "covariate_shift": "tabular",
    "fgsm": "adversarial",
    "pgd": "adversarial",
}
#: Older spellings that published folders use, and the corruption each one means. A folder keeps
#: its spelling (and so its content hash); ``evaluation.corruptions`` resolves it.
PERTURBATION_ALIASES: dict[str, str] = {
    "blur": "gaussian_blur",
    "shift": "translation",
    "salt_and_pepper": "impulse_noise",
}
SEVERITY_LEVELS = (1, 2, 3, 4, 5)
SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# The semantic-versioning 2.0 grammar: MAJOR.MINOR.PATCH with optional pre-release and build.
SEMVER_PATTERN = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
COLUMN_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
COLUMN_RULE = "(lowercase letters, digits and underscores from a letter on; not inputs, labels or item_ids)"
DEFAULT_FEEDBACK_FRACTION = 0.3
DEFAULT_VALIDATION_FRACTION = 0.2

_TOP_KEYS = (
    "slug", "version", "title", "description", "license", "source", "task", "classes",
    "changelog", "input", "metrics", "slices", "perturbations", "drift", "hidden", "datasheet", "dev",
)  # fmt: skip
#: The keys of the optional ``[datasheet]`` table, all optional themselves.
DATASHEET_KEYS = ("citation", "source_url", "collection", "known_issues")


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
    strength: float | None = None
    """Multiplier of the corruption's severity parameter (the benchmark's calibration); ``None``
    means 1. Only non-adversarial perturbations carry it."""
    features: tuple[int, ...] | None = None
    """Indices of the features ``covariate_shift`` moves; ``None`` means every feature."""


@dataclass(frozen=True)
class Datasheet:
    """The optional ``[datasheet]`` table: how the data came about, for people who use it.

    It documents the data and changes no score; like every key of the spec it is part of the
    content hash of the folders that declare it.
    """

    citation: str | None = None
    """How to cite the data set (text or BibTeX)."""
    source_url: str | None = None
    """An ``http(s)`` URL of the data set the version is derived from, if any."""
    collection: str | None = None
    """How the items were collected or generated, and labelled."""
    known_issues: tuple[str, ...] = ()
    """Problems known in the data (label noise, duplicates, biases), one per entry."""


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
    public_source: bool = False
    """Whether the hidden split can be derived from public data (``[hidden] public_source``), so
    anyone could rebuild it and its scores cannot show that a model never saw its items."""
    datasheet: Datasheet | None = None
    """The ``[datasheet]`` table, or ``None`` when the spec has none."""
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    """Share of the public dev split held out as its validation part (``[dev] validation_fraction``):
    baselines never train on it and local evaluation scores it (``evaluation.parts.dev_parts``)."""

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain JSON types, with one key per field (tuples become lists)."""
        # A JSON round trip turns the tuples of dataclasses.asdict into lists.
        plain: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self), allow_nan=False))
        # Optional perturbation keys are left out when unset, so a spec written before they
        # existed keeps its canonical JSON and therefore its content hash.
        for entry in plain["perturbations"]:
            for key in _OPTIONAL_PERTURBATION_KEYS:
                if entry[key] is None:
                    del entry[key]
        # Likewise public_source is left out unless set, so older folders keep their hash.
        if not plain["public_source"]:
            del plain["public_source"]
        # So is the validation fraction at its default: every folder published before the key
        # existed holds its default part and keeps its hash.
        if plain["validation_fraction"] == DEFAULT_VALIDATION_FRACTION:
            del plain["validation_fraction"]
        # The datasheet too, and within it every key the spec does not set.
        if plain["datasheet"] is None:
            del plain["datasheet"]
        else:
            sheet = plain["datasheet"]
            plain["datasheet"] = {key: value for key, value in sheet.items() if value not in (None, [])}
        return plain


def canonical_spec_json(spec: BenchmarkSpec) -> str:
    """``spec.as_dict()`` as JSON with sorted keys, compact separators and ASCII escapes."""
    return json.dumps(spec.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def parse_spec(text: str) -> BenchmarkSpec:
    """Parse and validate the text of a ``benchmark.toml``; raises ``SpecError`` naming the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{SPEC_FILE}: not valid TOML: {error}") from None
    top = _Table(data, "", _TOP_KEYS)
    slug = top.get(
        "slug", "lowercase letters, digits and single hyphens (at most 50 characters)",
        lambda v: isinstance(v, str) and len(v) <= 50 and SLUG_PATTERN.fullmatch(v),
    )  # fmt: skip
    version = top.get(
        "version", 'a semantic version like "1.0.0"',
        lambda v: isinstance(v, str) and len(v) <= 40 and SEMVER_PATTERN.fullmatch(v),
    )  # fmt: skip
    title = top.get("title", "a non-empty string of at most 200 characters", lambda v: _is_text(v) and len(v) <= 200)
    description = top.get("description", "a non-empty string", _is_text)
    license_ = top.get("license", "a non-empty string", _is_text)
    source = top.get("source", "a non-empty string", _is_text)
    task = top.get("task", '"classification" (the only task so far)', lambda v: v == "classification")
    classes = top.get("classes", "a list of at least 2 distinct non-empty strings", lambda v: _list_of(v, _is_text, 2))
    # An empty changelog is allowed: a first version has nothing to compare against.
    changelog = top.get("changelog", "a string", lambda v: isinstance(v, str))

    input_table = top.table("input", ("shape", "dtype", "range"))
    shape = input_table.get(
        "shape", "a non-empty list of positive integers",
        lambda v: _list_of(v, lambda n: _is_integer(n) and n > 0, 1, distinct=False),
    )  # fmt: skip
    dtype = input_table.get("dtype", '"float32"', lambda v: v == "float32")
    low, high = input_table.get(
        "range", "[lo, hi] with finite numbers lo < hi",
        lambda v: _list_of(v, _is_number, 2) and len(v) == 2 and v[0] < v[1],
    )  # fmt: skip

    metrics = top.table("metrics", ("primary", "report"))
    known = f"one of {', '.join(METRICS)}"
    primary = metrics.get("primary", known, _is_metric)
    report = metrics.get(
        "report", f"a non-empty list of distinct metric names, each {known}", lambda v: _list_of(v, _is_metric, 1)
    )
    if primary not in report:
        raise SpecError(f"{SPEC_FILE}: [metrics].primary {primary!r} must also be listed in [metrics].report")

    slices = top.optional_table("slices", ("columns",)) or _Table({"columns": []}, "[slices]", ("columns",))
    slice_columns = slices.get(
        "columns", f"a list of distinct column names {COLUMN_RULE}", lambda v: _list_of(v, _is_column, 0)
    )

    perturbations = _parse_perturbations(top.take("perturbations", default=[]), tuple(shape), high - low)

    drift = top.optional_table("drift", ("era_column", "order"))
    era_column, era_order = None, []
    if drift is not None:
        era_column = drift.get("era_column", f"a column name {COLUMN_RULE}", _is_column)
        era_order = drift.get(
            "order", "a non-empty list of distinct non-empty strings", lambda v: _list_of(v, _is_text, 1)
        )

    hidden = top.optional_table("hidden", ("feedback_fraction", "public_source")) or _Table({}, "[hidden]", ())
    feedback_fraction = hidden.get(
        "feedback_fraction", "a number strictly between 0 and 1",
        lambda v: _is_number(v) and 0 < v < 1, default=DEFAULT_FEEDBACK_FRACTION,
    )  # fmt: skip
    public_source = hidden.get(
        "public_source", "true or false (whether the hidden split can be derived from public data)",
        lambda v: isinstance(v, bool), default=False,
    )  # fmt: skip

    datasheet = _parse_datasheet(top.optional_table("datasheet", DATASHEET_KEYS))

    dev = top.optional_table("dev", ("validation_fraction",)) or _Table({}, "[dev]", ())
    validation_fraction = dev.get(
        "validation_fraction", "a number strictly between 0 and 1 (the share of the dev split held out for validation)",
        lambda v: _is_number(v) and 0 < v < 1, default=DEFAULT_VALIDATION_FRACTION,
    )  # fmt: skip

    return BenchmarkSpec(
        slug=slug, version=version, title=title, description=description, license=license_,
        source=source, task=task, classes=tuple(classes), input_shape=tuple(shape), input_dtype=dtype,
        input_range=(float(low), float(high)), primary_metric=primary, report_metrics=tuple(report),
        slice_columns=tuple(slice_columns), perturbations=perturbations, era_column=era_column,
        era_order=tuple(era_order), feedback_fraction=float(feedback_fraction), changelog=changelog,
        public_source=public_source, datasheet=datasheet, validation_fraction=float(validation_fraction),
    )  # fmt: skip


def _parse_datasheet(table: _Table | None) -> Datasheet | None:
    if table is None:
        return None
    text = "a non-empty string"
    citation = table.get("citation", text, lambda v: v is None or _is_text(v), default=None)
    source_url = table.get(
        "source_url", "an http:// or https:// URL",
        lambda v: v is None or (isinstance(v, str) and re.fullmatch(r"https?://\S+", v) is not None), default=None,
    )  # fmt: skip
    collection = table.get("collection", text, lambda v: v is None or _is_text(v), default=None)
    known_issues = table.get(
        "known_issues", "a list of distinct non-empty strings", lambda v: _list_of(v, _is_text, 0), default=[]
    )
    return Datasheet(citation=citation, source_url=source_url, collection=collection, known_issues=tuple(known_issues))


def load_dev_split(folder: Path) -> tuple[BenchmarkSpec, Split]:
    """The spec and validated dev split of ``folder``, without touching ``test.npz``.

    This is all a researcher has after downloading a benchmark's public files.
    """
    spec = parse_spec(_spec_text(read_folder_file(Path(folder), SPEC_FILE)))
    return spec, read_split(read_folder_file(Path(folder), "dev.npz"), "dev.npz", spec)


def load_benchmark(folder: Path) -> BenchmarkFolder:
    """Validate the spec and both splits of ``folder`` and compute its content hash.

    Raises ``SpecError`` naming the missing file, the malformed key or the malformed array.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(f"{folder}: not a directory; a benchmark folder holds {', '.join(HASHED_FILES)}")
    contents = {name: read_folder_file(folder, name) for name in HASHED_FILES}
    spec = parse_spec(_spec_text(contents[SPEC_FILE]))
    splits = {name: read_split(contents[f"{name}.npz"], f"{name}.npz", spec) for name in SPLIT_NAMES}
    check_cross_split(splits["dev"], splits["test"], spec)
    file_hashes = {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    return BenchmarkFolder(
        path=folder,
        spec=spec,
        content_hash=content_hash(canonical_spec_json(spec), file_hashes),
        file_hashes=file_hashes,
    )


def _spec_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(f"{SPEC_FILE}: not UTF-8 text ({error})") from None


def _parse_perturbations(value: Any, shape: tuple[int, ...], width: float) -> tuple[PerturbationSpec, ...]:
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise SpecError(
            f"{SPEC_FILE}: perturbations must be an array of tables ([[perturbations]] entries), got {_shown(value)}"
        )
    result: list[PerturbationSpec] = []
    for index, entry in enumerate(value):
        where = f"[[perturbations]][{index}]"
        name = entry.get("name")
        if not isinstance(name, str) or name not in KNOWN_PERTURBATIONS:
            raise SpecError(
                f"{SPEC_FILE}: {where}.name must be one of {', '.join(KNOWN_PERTURBATIONS)}, got {_shown(name)}"
            )
        if any(earlier.name == name for earlier in result):
            raise SpecError(f"{SPEC_FILE}: {where}.name {name!r} is declared twice")
        kind = KNOWN_PERTURBATIONS[name]
        needed = {"image": (3, "an image", "[C, H, W]"), "tabular": (1, "a tabular", "[F]")}.get(kind)
        if needed is not None and len(shape) != needed[0]:
            raise SpecError(
                f"{SPEC_FILE}: {where}.name {name!r} is {needed[1]} perturbation and needs "
                f"[input].shape {needed[2]}, got {list(shape)}"
            )
        if kind == "adversarial":
            table = _Table(entry, where, ("name", "eps"))
            eps = table.get(
                "eps", f"a non-empty list of distinct positive numbers below the width of [input].range ({width:g})",
                lambda v: _list_of(v, lambda e: _is_number(e) and 0 < e < width, 1),
            )  # fmt: skip
            result.append(PerturbationSpec(name, (), tuple(sorted(map(float, eps))), True))
        else:
            allowed = ("name", "severities", "strength", *(("features",) if name == "covariate_shift" else ()))
            table = _Table(entry, where, allowed)
            severities = table.get(
                "severities", "a non-empty list of distinct integers from 1 to 5",
                lambda v: _list_of(v, lambda n: _is_integer(n) and n in SEVERITY_LEVELS, 1),
            )  # fmt: skip
            strength = table.get(
                "strength", "a positive number (the multiplier of the severity parameter; 1 when absent)",
                lambda v: v is None or (_is_number(v) and v > 0), default=None,
            )  # fmt: skip
            features = table.get(
                "features", f"a non-empty list of distinct feature indices from 0 to {shape[0] - 1}",
                lambda v: v is None or _list_of(v, lambda n: _is_integer(n) and 0 <= n < shape[0], 1),
                default=None,
            )  # fmt: skip
            result.append(
                PerturbationSpec(
                    name, tuple(sorted(severities)), (), False,
                    strength=None if strength is None else float(strength),
                    features=None if features is None else tuple(features),
                )
            )  # fmt: skip
    return tuple(result)


_MISSING = object()
_OPTIONAL_PERTURBATION_KEYS = ("strength", "features")


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

    def take(self, key: str, default: Any = _MISSING) -> Any:
        """The raw value of ``key``; a missing key without a default is an error."""
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise SpecError(f"{SPEC_FILE}: missing required key {self._name(key)!r}")
        return default

    def get(self, key: str, expected: str, valid: Callable[[Any], Any], default: Any = _MISSING) -> Any:
        """The value of ``key`` if ``valid(value)``, else an error saying what was ``expected``."""
        value = self.take(key, default)
        if not valid(value):
            raise SpecError(f"{SPEC_FILE}: {self._name(key)} must be {expected}, got {_shown(value)}")
        return value

    def table(self, key: str, allowed: Collection[str]) -> _Table:
        """The sub-table ``key``, which must be present."""
        return _Table(self.take(key), f"[{self._name(key)}]", allowed)

    def optional_table(self, key: str, allowed: Collection[str]) -> _Table | None:
        """The sub-table ``key``, or ``None`` when it is absent."""
        value = self.take(key, default=None)
        return None if value is None else _Table(value, f"[{self._name(key)}]", allowed)

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key


def _is_integer(value: Any) -> bool:
    # bool is a subclass of int in Python, and TOML's true must not pass as 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_integer(value) or isinstance(value, float)) and math.isfinite(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_metric(value: Any) -> bool:
    return isinstance(value, str) and value in METRICS


def _is_column(value: Any) -> bool:
    return isinstance(value, str) and COLUMN_PATTERN.fullmatch(value) is not None and value not in RESERVED_ARRAYS


def _list_of(value: Any, item_valid: Callable[[Any], Any], min_length: int, distinct: bool = True) -> bool:
    """Whether ``value`` is a list of at least ``min_length`` valid (and distinct) items."""
    return (
        isinstance(value, list)
        and len(value) >= min_length
        and all(item_valid(item) for item in value)
        and (not distinct or len(set(value)) == len(value))
    )


def _shown(value: Any) -> str:
    """An offending value as it would look in TOML (JSON is close), shortened for messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)  # Dates and times, which TOML has and JSON lacks.
    return text if len(text) <= 80 else text[:77] + "..."
