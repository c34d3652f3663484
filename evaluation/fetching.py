"""Where ``touchstone fetch`` keeps each version: ``ROOT/<slug>/<version>/``, one folder per version.

A folder is written once, from a temporary folder beside it that is renamed into place only
after every file matched the published hashes. A folder that already holds the same version is
checked again and left as it is; one that holds anything else is never overwritten.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evaluation.client import ClientError, TouchstoneClient
from evaluation.errors import SpecError
from evaluation.public import VERSION_FILE, EvaluationData, load_for_evaluation

# Slugs and versions become folder names: nothing that could climb out of the root.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Fetched:
    """A version's public files on disk, verified."""

    folder: Path
    dataset: EvaluationData
    already_there: bool
    """True when the folder held this version already and nothing was downloaded."""


def version_folder(root: Path, slug: str, version: str) -> Path:
    """The folder of ``slug`` ``version`` under ``root``; refuses names that are not plain folder names."""
    for kind, name in (("benchmark", slug), ("version", version)):
        if not _NAME.match(name) or ".." in name:
            raise ClientError(f"{name!r} is not a {kind} name (letters, digits, '.', '-' and '_' only)")
    return Path(root) / slug / version


def _held_identity(folder: Path) -> dict[str, object] | None:
    try:
        identity = json.loads((folder / VERSION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return identity if isinstance(identity, dict) else None


def _check_held(folder: Path, slug: str, version: str, published_hash: str) -> EvaluationData:
    """The version already in ``folder``, verified; refuses a folder that holds anything else."""
    identity = _held_identity(folder)
    if identity is None:
        raise ClientError(
            f"{folder} already exists and holds no {VERSION_FILE} from `touchstone fetch`; "
            "move it away or fetch into another folder (nothing was changed)"
        )
    held = (identity.get("benchmark"), identity.get("version"), identity.get("content_hash"))
    if held != (slug, version, published_hash):
        raise ClientError(
            f"{folder} holds {held[0]} {held[1]} with content hash {held[2]}, not the published {slug} {version} "
            f"({published_hash}); move it away to fetch this version (nothing was changed)"
        )
    try:
        return load_for_evaluation(folder, "dev")
    except SpecError as error:
        raise ClientError(
            f"{folder} holds {slug} {version} but its files no longer match the published hashes ({error}); "
            "remove the folder and fetch again (nothing was changed)"
        ) from None


def fetch_version(client: TouchstoneClient, slug: str, version: str, root: Path) -> Fetched:
    """Download and verify ``slug`` ``version`` into ``root/slug/version``, or check the copy already there."""
    folder = version_folder(root, slug, version)
    detail = client.get(f"benchmarks/{slug}/versions/{version}/")
    published_hash = str(detail["content_hash"])
    if folder.exists():
        return Fetched(folder, _check_held(folder, slug, version, published_hash), already_there=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{version}.partial-", dir=folder.parent))
    try:
        client.fetch_public_files(benchmark=slug, version=version, folder=partial)
        try:
            dataset = load_for_evaluation(partial, "dev")
        except SpecError as error:
            raise ClientError(
                f"the files downloaded from {client.server} do not match its published hashes: {error}"
            ) from None
        if dataset.content_hash != published_hash:
            raise ClientError(f"{client.server} changed {slug} {version} while it was being fetched; fetch again")
        # The rename fails rather than replace a folder made meanwhile by another fetch.
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Fetched(folder, load_for_evaluation(folder, "dev"), already_there=False)


def latest_version(client: TouchstoneClient, slug: str) -> str:
    """The benchmark's latest published version, as the server names it."""
    benchmark = client.get(f"benchmarks/{slug}/")
    latest = benchmark.get("latest_version")
    if not isinstance(latest, str) or not latest:
        raise ClientError(f"{client.server} has no published version of {slug}; name one with {slug}/VERSION")
    return latest
