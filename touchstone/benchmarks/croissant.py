"""MLCommons Croissant metadata (JSON-LD) for a version's public dev split, and its datasheet.

The record describes what anyone may download: ``dev.npz`` (with its sha256 and URL) and the
public ``benchmark.toml``, one record set of the dev split's arrays (item ids as the key, the
inputs with their shape, the labels referring to the class names, the metadata columns), the
license and citation, and its provenance: ``prov:wasDerivedFrom`` the previous version of the
benchmark, and the source data set a datasheet names. The hidden test split is never described
beyond its size. Croissant 1.0: https://docs.mlcommons.org/croissant/docs/croissant-spec.html
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
from django.urls import reverse

from touchstone.benchmarks.history import previous_version
from touchstone.benchmarks.models import BenchmarkVersion

CROISSANT_VERSION = "http://mlcommons.org/croissant/1.0"
#: The vocabulary Croissant 1.0 records use, and PROV-O for the provenance.
CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "prov": "http://www.w3.org/ns/prov#",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
#: No media type is registered for numpy's archives; this is the one in common use.
NPZ_MEDIA_TYPE = "application/x-npz"
RESERVED_DESCRIPTIONS = {
    "item_ids": "Stable identifier of the item; the same id names the same item in every version.",
    "inputs": "The model input",
    "labels": "Index of the item's class in the classes record set.",
}


def array_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The shape and dtype of every array of an ``.npz`` file, read from the headers alone."""
    found = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            with archive.open(member) as stream:
                major, _ = np.lib.format.read_magic(stream)
                reader = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape, _, dtype = reader(stream)
            found[member.removesuffix(".npy")] = (tuple(shape), dtype)
    return found


def _data_type(dtype: np.dtype) -> str:
    if dtype.kind in "iu":
        return "sc:Integer"
    if dtype.kind == "f":
        return "sc:Float"
    if dtype.kind == "b":
        return "sc:Boolean"
    return "sc:Text"


def datasheet(version: BenchmarkVersion) -> dict:
    """The version's ``[datasheet]`` table as written in its spec (empty without one)."""
    found = version.spec.get("datasheet") or {}
    return {
        "citation": found.get("citation"),
        "source_url": found.get("source_url"),
        "collection": found.get("collection"),
        "known_issues": list(found.get("known_issues") or []),
    }


def citation(version: BenchmarkVersion, page_url: str) -> str:
    """The datasheet's citation, or one naming the benchmark, its version and its page."""
    written = datasheet(version)["citation"]
    if written:
        return str(written)
    return f"{version.title}, version {version.version}. Touchstone benchmark {version.benchmark.slug}. {page_url}"


def croissant(version: BenchmarkVersion, absolute) -> dict:
    """The Croissant JSON-LD record of ``version``'s public dev split.

    ``absolute`` turns a site path into an absolute URL (``request.build_absolute_uri``).
    """
    slug, number = version.benchmark.slug, version.version
    page_url = absolute(version.get_absolute_url())
    headers = array_headers(version.folder / "dev.npz")
    dev_id, spec_id = "dev.npz", "benchmark.toml"

    def field(name: str, shape: tuple[int, ...], dtype: np.dtype) -> dict:
        description = RESERVED_DESCRIPTIONS.get(name, f"Metadata column {name!r} (a slice, era or cluster).")
        if name == "inputs":
            description += (
                f": {dtype.name} array of shape {list(shape[1:])} per item, in {version.spec['input']['range']}."
            )
        entry = {
            "@type": "cr:Field",
            "@id": f"dev/{name}",
            "name": name,
            "description": description,
            "dataType": _data_type(dtype),
            "source": {"fileObject": {"@id": dev_id}, "extract": {"column": name}},
        }
        if name == "labels":
            entry["references"] = {"field": {"@id": "classes/index"}}
        return entry

    order = ["item_ids", "inputs", "labels", *sorted(name for name in headers if name not in RESERVED_DESCRIPTIONS)]
    derived = []
    previous = previous_version(version)
    if previous is not None:
        derived.append(
            {
                "@id": absolute(reverse("api:croissant", args=[slug, previous.version])),
                "name": f"{slug} {previous.version}",
                "url": absolute(previous.get_absolute_url()),
            }
        )
    source_url = datasheet(version)["source_url"]
    if source_url:
        derived.append({"@id": source_url, "name": version.spec.get("source", source_url), "url": source_url})
    record = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": f"{slug}-{number}-dev",
        "description": (
            f"{version.description} This record describes the public dev split ({version.n_dev_items} items) of "
            f"version {number}; its {version.n_test_items} hidden test items stay on the server."
        ),
        "conformsTo": CROISSANT_VERSION,
        "citeAs": citation(version, page_url),
        "license": version.spec.get("license", ""),
        "url": page_url,
        "version": number,
        "datePublished": version.published_at.date().isoformat() if version.published_at else None,
        "isAccessibleForFree": True,
        "distribution": [
            {
                "@type": "cr:FileObject",
                "@id": dev_id,
                "name": dev_id,
                "description": "The public dev split: one array per field, item i in row i of every array.",
                "contentUrl": absolute(reverse("api:dev-split", args=[slug, number])),
                "encodingFormat": NPZ_MEDIA_TYPE,
                "sha256": version.file_hashes["dev.npz"],
            },
            {
                "@type": "cr:FileObject",
                "@id": spec_id,
                "name": spec_id,
                "description": "The version's spec: classes, input shape and range, metrics, slices, suite.",
                "contentUrl": absolute(reverse("api:spec", args=[slug, number])),
                "encodingFormat": "application/toml",
                "sha256": version.file_hashes["benchmark.toml"],
            },
        ],
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "classes",
                "name": "classes",
                "description": "The classes; a label is an index into this list.",
                "dataType": "sc:Enumeration",
                "key": {"@id": "classes/index"},
                "field": [
                    {"@type": "cr:Field", "@id": "classes/index", "name": "index", "dataType": "sc:Integer"},
                    {"@type": "cr:Field", "@id": "classes/name", "name": "name", "dataType": "sc:Text"},
                ],
                "data": [{"classes/index": i, "classes/name": name} for i, name in enumerate(version.classes)],
            },
            {
                "@type": "cr:RecordSet",
                "@id": "dev",
                "name": "dev",
                "description": (
                    f"The {version.n_dev_items} items of the public dev split. About "
                    f"{version.validation_fraction:.0%} of them (validation_fraction = {version.validation_fraction:g}), "
                    "whole clusters together, form its validation part, fixed by the version's content hash "
                    f"({version.content_hash}) and the item ids as Touchstone's documentation writes out; the shipped "
                    "baselines train on the rest, and `touchstone evaluate` scores the validation part."
                ),
                "key": {"@id": "dev/item_ids"},
                "field": [field(name, *headers[name]) for name in order if name in headers],
            },
        ],
    }
    if record["datePublished"] is None:
        del record["datePublished"]
    if derived:
        record["prov:wasDerivedFrom"] = derived
    return record


def as_script(record: dict) -> str:
    """The record as the text of a ``<script type="application/ld+json">`` element.

    ``<``, ``>`` and ``&`` are escaped as JSON unicode escapes, so no text in the record (a
    description, a changelog) can close the element or open another.
    """
    text = json.dumps(record, ensure_ascii=False, sort_keys=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
