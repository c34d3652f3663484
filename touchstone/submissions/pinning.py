"""Baselines pinned by file hash: stored once, added to each version byte for byte.

``pin_baseline`` stores a trained baseline file under private storage and records its SHA-256
and the recipe that trained it; ``add_pinned_baselines`` adds pins to a version as background
submissions (they run behind uploads, ``queueing``), after checking that the stored file, and
any file offered in its place, still has the pinned hash.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from evaluation.archive import inspect_model_file
from evaluation.errors import ModelFileError
from touchstone.benchmarks.models import Benchmark, BenchmarkVersion
from touchstone.storage import fetch_file, private_path, store_file
from touchstone.submissions.models import BaselinePin, Submission
from touchstone.submissions.services import MODEL_SUFFIXES

BASELINE_TEAM = "Touchstone baselines"
"""The team every pinned baseline is listed under."""


class PinMismatch(Exception):
    """A baseline file whose SHA-256 is not the one pinned."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pin_baseline(
    *, benchmark: Benchmark, path: Path, name: str, description: str, recipe: dict, command: str = ""
) -> BaselinePin:
    """Pin the baseline file at ``path`` for ``benchmark``; the same file pinned again returns its pin.

    The file is checked like an upload (``inspect_model_file``) and copied once into private
    storage under its hash.
    """
    try:
        info = inspect_model_file(Path(path), max_bytes=settings.MAX_UPLOAD_BYTES)
    except ModelFileError as error:
        raise PinMismatch(f"{path} cannot be pinned as a baseline: {error}") from None
    existing = BaselinePin.objects.filter(benchmark=benchmark, sha256=info.sha256).first()
    if existing is not None:
        return existing
    relative = f"baselines/{benchmark.slug}/{info.sha256}{MODEL_SUFFIXES.get(info.format, '.bin')}"
    target = private_path(relative)
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{secrets.token_hex(8)}.partial")
        shutil.copyfile(path, staging)
        staging.rename(target)
        store_file(relative)
    try:
        with transaction.atomic():
            return BaselinePin.objects.create(
                benchmark=benchmark,
                name=name,
                description=description,
                sha256=info.sha256,
                model_path=relative,
                model_format=info.format,
                size_bytes=info.size_bytes,
                recipe=recipe,
                command=command[:300],
            )
    except IntegrityError:
        return BaselinePin.objects.get(benchmark=benchmark, sha256=info.sha256)


def verify_pin(pin: BaselinePin, offered: Path | None = None) -> None:
    """Raise ``PinMismatch`` unless the stored file (and ``offered``, if given) has the pinned hash."""
    try:
        # Fetched without a hash to check: the hash is compared below, with a message for the operator.
        stored = fetch_file(pin.model_path)
    except FileNotFoundError:
        stored = private_path(pin.model_path)
    if not stored.is_file():
        raise PinMismatch(
            f"the file of pinned baseline {pin.name!r} is missing from private storage ({pin.model_path})"
        )
    found = file_sha256(stored)
    if found != pin.sha256:
        raise PinMismatch(
            f"the stored file of pinned baseline {pin.name!r} has sha256 {found}, not the pinned {pin.sha256}; "
            "restore the file from a backup or pin the new file as another baseline"
        )
    if offered is not None:
        given = file_sha256(offered)
        if given != pin.sha256:
            raise PinMismatch(
                f"{offered} has sha256 {given}, but baseline {pin.name!r} is pinned to {pin.sha256}: a pinned "
                "baseline is the same file on every version; pin the new file as another baseline instead"
            )


def add_pinned_baselines(
    *, version: BenchmarkVersion, pins: Iterable[BaselinePin], owner, offered: dict[int, Path] | None = None
) -> list[Submission]:
    """Add each pin not yet on ``version`` as a queued background submission; returns the rows added.

    Every file is verified first (``verify_pin``), so a mismatch adds nothing. The caller
    dispatches them (``touchstone.tasks.queue_background``) once this commits.
    """
    if not version.is_open:
        raise PinMismatch(f"{version} is {version.status} and accepts no submissions, baselines included")
    pins = list(pins)
    for pin in pins:
        if pin.benchmark_id != version.benchmark_id:
            raise PinMismatch(f"baseline {pin.name!r} is pinned for {pin.benchmark}, not for {version.benchmark}")
        verify_pin(pin, (offered or {}).get(pin.pk))
    added = []
    with transaction.atomic():
        present = set(
            Submission.objects.filter(version=version, baseline_pin__in=pins).values_list("baseline_pin", flat=True)
        )
        for pin in pins:
            if pin.pk in present:
                continue
            added.append(
                Submission.objects.create(
                    owner=owner,
                    version=version,
                    model_name=pin.name,
                    team=BASELINE_TEAM,
                    description=pin.description,
                    is_baseline=True,
                    model_path=pin.model_path,
                    model_format=pin.model_format,
                    sha256=pin.sha256,
                    size_bytes=pin.size_bytes,
                    origin=Submission.Origin.BASELINE,
                    baseline_pin=pin,
                    counts_against_quota=False,
                    progress_message=f"pinned baseline {pin.name} ({pin.sha256[:12]})",
                )
            )
    return added
