"""Each visible version's Croissant JSON-LD and datasheet: validated by mlcroissant, offline."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sys

import mlcroissant as mlc
import pytest
from absl import logging as absl_logging
from django.test import Client

from tests.touchstone.test_benchmark_page import next_version_folder
from touchstone.benchmarks.croissant import as_script
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.benchmarks.services import publish_benchmark

# absl's log handler keeps the stderr of the moment mlcroissant was imported (a capture of the
# test run) and closes it whenever logging is configured again, as every manage.py command does:
# pointed at the process's own stderr, which it never closes, it cannot close another's stream.
absl_logging.get_absl_handler().python_handler.stream = sys.__stderr__


@pytest.fixture
def offline(monkeypatch):
    """No connection can be opened: the validation must not fetch anything."""

    def refuse(*args, **kwargs):
        raise OSError("the tests run offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def record_of(version: BenchmarkVersion) -> dict:
    response = Client().get(f"/api/v1/benchmarks/digits/versions/{version.version}/croissant.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    return json.loads(response.content)


def validated(record: dict) -> mlc.Dataset:
    """The record as mlcroissant reads it; it raises on any error and lists warnings."""
    dataset = mlc.Dataset(jsonld=record)
    assert dataset.metadata.issues.errors == set()
    return dataset


def test_the_croissant_record_validates_offline_with_mlcroissant(version, offline, caplog):
    with caplog.at_level("WARNING"):
        dataset = validated(record_of(version))
    assert dataset.metadata.issues.warnings == set()
    # mlcroissant logs (and does not list) a JSON-LD context that is not Croissant's own.
    assert "not standard" not in caplog.text
    assert dataset.metadata.version == version.version


def test_it_names_the_dev_file_with_its_sha256_and_download_url(version):
    record = record_of(version)
    (dev,) = [f for f in record["distribution"] if f["@id"] == "dev.npz"]
    served = Client().get(f"/api/v1/benchmarks/digits/versions/{version.version}/dev-split")
    assert dev["sha256"] == hashlib.sha256(b"".join(served.streaming_content)).hexdigest()
    assert dev["contentUrl"] == f"http://testserver/api/v1/benchmarks/digits/versions/{version.version}/dev-split"
    assert not any("test" in f["@id"] for f in record["distribution"])


def test_its_record_set_lists_every_dev_array_with_its_type(version):
    record = record_of(version)
    dev = {rs["@id"]: rs for rs in record["recordSet"]}["dev"]
    types = {f["name"]: f["dataType"] for f in dev["field"]}
    assert types == {"item_ids": "sc:Text", "inputs": "sc:Float", "labels": "sc:Integer", "ink": "sc:Text"}
    assert "[1, 8, 8]" in {f["name"]: f for f in dev["field"]}["inputs"]["description"]
    classes = {rs["@id"]: rs for rs in record["recordSet"]}["classes"]
    assert [row["classes/name"] for row in classes["data"]] == version.classes


def test_its_dev_record_set_says_which_part_is_held_out_for_validation(version):
    dev = {rs["@id"]: rs for rs in record_of(version)["recordSet"]}["dev"]
    assert f"validation_fraction = {version.validation_fraction:g}" in dev["description"]
    assert version.content_hash in dev["description"]


def test_it_carries_license_citation_and_the_source_it_derives_from(version):
    record = record_of(version)
    sheet = version.spec["datasheet"]
    assert record["license"] == version.spec["license"] == "CC BY 4.0"
    assert record["citeAs"] == sheet["citation"]
    assert [source["@id"] for source in record["prov:wasDerivedFrom"]] == [sheet["source_url"]]


def test_a_derived_version_says_it_derives_from_the_previous_one(version, digits_folder, tmp_path, offline):
    newer = publish_benchmark(folder=next_version_folder(digits_folder, tmp_path))
    record = record_of(newer)
    validated(record)
    derived = [source["@id"] for source in record["prov:wasDerivedFrom"]]
    assert derived[0] == f"http://testserver/api/v1/benchmarks/digits/versions/{version.version}/croissant.json"


def test_the_version_page_embeds_the_same_record_and_shows_its_datasheet(version):
    page = Client().get(version.get_absolute_url()).content.decode()
    block = re.search(r'<script type="application/ld\+json" id="croissant">(.*?)</script>', page, re.S)
    assert json.loads(block.group(1)) == record_of(version)
    sheet = page[page.index('id="datasheet"') :]
    assert version.spec["source"] in sheet and "CC BY 4.0" in sheet
    assert version.spec["datasheet"]["collection"][:40] in sheet
    for issue in version.spec["datasheet"]["known_issues"]:
        assert issue.replace("'", "&#x27;") in sheet
    assert "derived from public data" in sheet
    assert f"public dev split: {version.n_dev_items} items" in sheet


def test_a_draft_has_no_croissant_record(version):
    BenchmarkVersion.objects.filter(pk=version.pk).update(status=BenchmarkVersion.Status.DRAFT)
    response = Client().get(f"/api/v1/benchmarks/digits/versions/{version.version}/croissant.json")
    assert response.status_code == 404


def test_the_embedded_record_cannot_close_its_script_element():
    text = as_script({"description": "</script><script>alert(1)</script> & more"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"description": "</script><script>alert(1)</script> & more"}
