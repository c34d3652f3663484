"""What the runner evaluates: one split of a benchmark with the version's identity.

On the server the folder is complete. A researcher usually holds only the public files
(``benchmark.toml``, ``dev.npz`` and the ``version.json`` that ``touchstone fetch``
writes beside them); their hashes are checked against the published version, so a local
score is computed on exactly the data the site published, with the same seeds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from evaluation.errors import SpecError
from evaluation.spec import BenchmarkFolder, BenchmarkSpec, Split, canonical_spec_json, load_benchmark, load_dev_split
from evaluation.splits import content_hash

VERSION_FILE = "version.json"
PUBLIC_FILES = ("benchmark.toml", "dev.npz")


@dataclass(frozen=True)
class EvaluationData:
    """A split to score and the identity of the version it belongs to."""

    spec: BenchmarkSpec
    """The version's validated spec."""
    split: str
    """"dev" or "test"."""
    data: Split
    """The split's arrays."""
    content_hash: str
    """The version's content hash: the basis of every seed."""
    file_hashes: dict[str, str]
    """sha256 of each file of the version."""

    def load_split(self, name: str) -> Split:
        """The split ``name`` if it is the one held: lets public files stand in for a version folder."""
        if name != self.split:
            raise SpecError(f"{self.spec.slug} {self.spec.version}: only the {self.split} split is at hand, not {name}")
        return self.data

    @classmethod
    def from_folder(cls, benchmark: BenchmarkFolder, split: str) -> EvaluationData:
        return cls(
            benchmark.spec, split, benchmark.load_split(split), benchmark.content_hash, dict(benchmark.file_hashes)
        )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_for_evaluation(folder: Path, split: str) -> EvaluationData:
    """Load ``split`` of a complete benchmark folder, or the dev split of its public files."""
    folder = Path(folder)
    if (folder / "test.npz").exists():
        return EvaluationData.from_folder(load_benchmark(folder), split)
    if split != "dev":
        raise SpecError(f"{folder}: has no test.npz; the hidden split is scored only on the server (use --split dev)")
    if not folder.is_dir():
        raise SpecError(f"{folder}: not a directory; a benchmark folder holds benchmark.toml and dev.npz")
    spec, dev = load_dev_split(folder)
    identity_path = folder / VERSION_FILE
    if not identity_path.exists():
        raise SpecError(
            f"{folder}: has neither test.npz nor {VERSION_FILE}; fetch the public files with "
            f"`touchstone fetch --benchmark {spec.slug}/{spec.version}` (it writes ./{spec.slug}/{spec.version}/)"
        )
    try:
        identity = json.loads(identity_path.read_text(encoding="utf-8"))
        published_hash, file_hashes = str(identity["content_hash"]), dict(identity["file_hashes"])
    except (ValueError, KeyError, TypeError) as error:
        raise SpecError(f"{identity_path}: not a version record written by `fetch` ({error})") from None
    for name in PUBLIC_FILES:
        if _sha256(folder / name) != file_hashes.get(name):
            raise SpecError(f"{folder / name} differs from the published {spec.slug} {spec.version}; fetch it again")
    if content_hash(canonical_spec_json(spec), file_hashes) != published_hash:
        raise SpecError(f"{identity_path}: its hashes do not add up to the version's content hash {published_hash}")
    return EvaluationData(spec, "dev", dev, published_hash, file_hashes)
