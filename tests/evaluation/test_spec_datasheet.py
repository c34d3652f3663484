"""The optional ``[datasheet]`` table of ``benchmark.toml``: parsed, validated, and hashed only when present."""

from __future__ import annotations

import re

import pytest

from evaluation.errors import SpecError
from evaluation.spec import Datasheet, canonical_spec_json, parse_spec
from tests.evaluation.test_spec import VALID_TOML, VALID_TOML_CANONICAL_JSON

DATASHEET = """
[datasheet]
citation = "A. Author, Tiny images, 2024"
source_url = "https://example.org/tiny"
collection = "Drawn by hand."
known_issues = ["Two items look alike.", "Labels were checked once."]
"""


def test_a_spec_without_a_datasheet_keeps_its_canonical_json_and_so_its_content_hash():
    spec = parse_spec(VALID_TOML)
    assert spec.datasheet is None
    assert "datasheet" not in spec.as_dict()
    assert canonical_spec_json(spec) == VALID_TOML_CANONICAL_JSON


def test_it_parses_every_datasheet_key():
    sheet = parse_spec(VALID_TOML + DATASHEET).datasheet
    assert sheet == Datasheet(
        citation="A. Author, Tiny images, 2024",
        source_url="https://example.org/tiny",
        collection="Drawn by hand.",
        known_issues=("Two items look alike.", "Labels were checked once."),
    )


def test_a_datasheet_enters_the_canonical_json_with_only_the_keys_it_sets():
    spec = parse_spec(VALID_TOML + '\n[datasheet]\ncollection = "Drawn by hand."\n')
    assert spec.as_dict()["datasheet"] == {"collection": "Drawn by hand."}
    assert canonical_spec_json(spec) != VALID_TOML_CANONICAL_JSON


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('source_url = "ftp://example.org/x"', "[datasheet].source_url"),
        ('citation = ""', "[datasheet].citation"),
        ('known_issues = "one"', "[datasheet].known_issues"),
        ('known_issues = ["same", "same"]', "[datasheet].known_issues"),
        ('colection = "typo"', "'colection'"),
    ],
)
def test_it_names_a_malformed_datasheet_key(line, named):
    with pytest.raises(SpecError, match=re.escape(named)):
        parse_spec(VALID_TOML + f"\n[datasheet]\n{line}\n")
