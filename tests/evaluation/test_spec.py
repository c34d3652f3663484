"""Tests for ``evaluation.spec`` and ``evaluation.splits``: benchmark folders and their rules."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from catalog.folder import write_npz
from evaluation.errors import SpecError
from evaluation.spec import (
    KNOWN_PERTURBATIONS,
    BenchmarkSpec,
    PerturbationSpec,
    canonical_spec_json,
    load_benchmark,
    parse_spec,
)

VALID_TOML = """\
slug = "tiny-images"
version = "1.0.0"
title = "Tiny images"
description = "Two-by-two images of three kinds."
license = "CC0-1.0"
source = "Made up for the tests"
task = "classification"
classes = ["a", "b", "c"]
changelog = "First version."

[input]
shape = [1, 2, 2]
dtype = "float32"
range = [0.0, 1.0]

[metrics]
primary = "accuracy"
report = ["accuracy", "nll"]

[slices]
columns = ["ink"]

[drift]
era_column = "era"
order = ["2020", "2021"]

[hidden]
feedback_fraction = 0.25

[[perturbations]]
name = "blur"
severities = [3, 1, 2]

[[perturbations]]
name = "fgsm"
eps = [0.1, 0.03]
"""


def split_arrays(prefix: str, n_items: int = 12) -> dict[str, np.ndarray]:
    """A valid split matching ``VALID_TOML`` with ``n_items`` items."""
    index = np.arange(n_items)
    return {
        "inputs": (index[:, None, None, None] * np.ones((1, 1, 2, 2)) / n_items).astype(np.float32),
        "labels": (index % 3).astype(np.int64),
        "item_ids": np.array([f"{prefix}-{i:03d}" for i in index]),
        "ink": np.array(["light", "heavy"])[index % 2],
        "era": np.array(["2020", "2021"])[index % 2],
        "cluster": (index // 2).astype(np.int64),
    }


def make_folder(
    path: Path,
    toml: str = VALID_TOML,
    dev: dict[str, np.ndarray] | None = None,
    test: dict[str, np.ndarray] | None = None,
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "benchmark.toml").write_text(toml, encoding="utf-8")
    np.savez(path / "dev.npz", **(dev if dev is not None else split_arrays("dev")))
    np.savez(path / "test.npz", **(test if test is not None else split_arrays("test", 18)))
    return path


def test_it_loads_a_valid_folder(tmp_path):
    folder = load_benchmark(make_folder(tmp_path / "ok"))
    spec = folder.spec
    assert spec.slug == "tiny-images" and spec.version == "1.0.0"
    assert spec.classes == ("a", "b", "c")
    assert spec.input_shape == (1, 2, 2) and spec.input_dtype == "float32"
    assert spec.input_range == (0.0, 1.0)
    assert spec.primary_metric == "accuracy" and spec.report_metrics == ("accuracy", "nll")
    assert spec.slice_columns == ("ink",)
    assert spec.era_column == "era" and spec.era_order == ("2020", "2021")
    assert spec.feedback_fraction == 0.25
    assert spec.perturbations == (
        PerturbationSpec("blur", (1, 2, 3), (), False),
        PerturbationSpec("fgsm", (), (0.03, 0.1), True),
    )
    assert set(folder.file_hashes) == {"benchmark.toml", "dev.npz", "test.npz"}
    assert len(folder.content_hash) == 64

    test = folder.load_split("test")
    assert test.inputs.shape == (18, 1, 2, 2) and test.inputs.dtype == np.float32
    assert test.labels.dtype == np.int64
    assert test.item_ids[0] == "test-000"
    assert set(test.metadata) == {"ink", "era", "cluster"}


def test_it_defaults_optional_tables(tmp_path):
    toml = VALID_TOML.split("[slices]")[0] + '\n[[perturbations]]\nname = "pgd"\neps = [0.1]\n'
    spec = parse_spec(toml)
    assert spec.slice_columns == ()
    assert spec.era_column is None and spec.era_order == ()
    assert spec.feedback_fraction == 0.3
    assert spec.validation_fraction == 0.2
    arrays = {key: value for key, value in split_arrays("dev").items() if key in ("inputs", "labels", "item_ids")}
    test = {key: value for key, value in split_arrays("test").items() if key in ("inputs", "labels", "item_ids")}
    assert load_benchmark(make_folder(tmp_path / "plain", toml, arrays, test)).spec == spec


def test_as_dict_is_canonical_json_with_one_key_per_field():
    spec = parse_spec(
        VALID_TOML.replace("feedback_fraction = 0.25", "feedback_fraction = 0.25\npublic_source = true")
        + '\n[datasheet]\ncollection = "By hand."\n\n[dev]\nvalidation_fraction = 0.25\n'
    )
    document = spec.as_dict()
    assert document["validation_fraction"] == 0.25
    assert set(document) == set(BenchmarkSpec.__dataclass_fields__)
    assert json.loads(json.dumps(document)) == document
    assert document["input_shape"] == [1, 2, 2]
    assert document["perturbations"][1] == {"name": "fgsm", "severities": [], "eps": [0.03, 0.1], "adversarial": True}


def test_the_default_validation_fraction_leaves_the_canonical_json_of_older_specs_alone():
    written = parse_spec(VALID_TOML + "\n[dev]\nvalidation_fraction = 0.2\n")
    assert written == parse_spec(VALID_TOML)
    assert "validation_fraction" not in parse_spec(VALID_TOML).as_dict()
    assert canonical_spec_json(written) == canonical_spec_json(parse_spec(VALID_TOML))


def test_known_perturbations_cover_the_methods_suite():
    assert KNOWN_PERTURBATIONS == {
        "gaussian_noise": "image", "shot_noise": "image", "impulse_noise": "image",
        "gaussian_blur": "image", "motion_blur": "image", "contrast": "image", "brightness": "image",
        "occlusion": "image", "translation": "image", "rotation": "image", "scale": "image",
        "elastic": "image", "blur": "image", "shift": "image", "salt_and_pepper": "image",
        "feature_noise": "tabular", "missing_features": "tabular", "covariate_shift": "tabular",
        "fgsm": "adversarial", "pgd": "adversarial",
    }  # fmt: skip


INPUT_TABLE = '[input]\nshape = [1, 2, 2]\ndtype = "float32"\nrange = [0.0, 1.0]\n'

# Each case: (old text, new text, fragments the error message must contain).
SPEC_CASES = {
    "missing slug": ('slug = "tiny-images"\n', "", ["missing required key 'slug'"]),
    "unknown top-level key": (
        'changelog = "First version."',
        'changelog = ""\nmetricz = 1',
        ["unknown key 'metricz' (did you mean 'metrics'?)"],
    ),
    "misspelt table": ("[metrics]", "[metricz]", ["unknown key 'metricz'", "did you mean 'metrics'"]),
    "unknown key in a table": ('dtype = "float32"', 'dtype = "float32"\ncolour = "grey"', ["'colour'", "[input]"]),
    "uppercase slug": ('slug = "tiny-images"', 'slug = "Tiny"', ["slug", 'got "Tiny"']),
    "slug with underscore": ('slug = "tiny-images"', 'slug = "tiny_images"', ["slug"]),
    "slug with a trailing hyphen": ('slug = "tiny-images"', 'slug = "tiny-"', ["slug"]),
    "version not semver": ('version = "1.0.0"', 'version = "1.0"', ["version", 'got "1.0"']),
    "version with a leading zero": ('version = "1.0.0"', 'version = "01.0.0"', ["version"]),
    "empty title": ('title = "Tiny images"', 'title = "  "', ["title"]),
    "description not a string": (
        'description = "Two-by-two images of three kinds."',
        "description = 3",
        ["description"],
    ),
    "missing license": ('license = "CC0-1.0"\n', "", ["'license'"]),
    "source not a string": ('source = "Made up for the tests"', "source = [1]", ["source"]),
    "other task": ('task = "classification"', 'task = "regression"', ["task", "regression"]),
    "one class": ('classes = ["a", "b", "c"]', 'classes = ["a"]', ["classes"]),
    "repeated class": ('classes = ["a", "b", "c"]', 'classes = ["a", "b", "a"]', ["classes"]),
    "class not a string": ('classes = ["a", "b", "c"]', 'classes = ["a", 2]', ["classes"]),
    "changelog not a string": ('changelog = "First version."', "changelog = 1", ["changelog"]),
    "missing changelog": ('changelog = "First version."\n', "", ["'changelog'"]),
    "negative shape": ("shape = [1, 2, 2]", "shape = [1, -8]", ["[input].shape", "positive integers", "[1, -8]"]),
    "empty shape": ("shape = [1, 2, 2]", "shape = []", ["[input].shape"]),
    "boolean in shape": ("shape = [1, 2, 2]", "shape = [1, true, 2]", ["[input].shape"]),
    "float in shape": ("shape = [1, 2, 2]", "shape = [1, 2.0, 2]", ["[input].shape"]),
    "other dtype": ('dtype = "float32"', 'dtype = "float64"', ["[input].dtype", "float64"]),
    "missing dtype": ('dtype = "float32"\n', "", ["'[input].dtype'"]),
    "reversed range": ("range = [0.0, 1.0]", "range = [1.0, 0.0]", ["[input].range"]),
    "infinite range": ("range = [0.0, 1.0]", "range = [0.0, inf]", ["[input].range"]),
    "three-value range": ("range = [0.0, 1.0]", "range = [0.0, 0.5, 1.0]", ["[input].range"]),
    "missing input table": (INPUT_TABLE, "", ["missing required key 'input'"]),
    "input not a table": (INPUT_TABLE, "input = [1, 2, 2]\n", ["[input] must be a table", "[1, 2, 2]"]),
    "unknown primary metric": ('primary = "accuracy"', 'primary = "top5"', ["[metrics].primary", "top5"]),
    "unknown report metric": (
        'report = ["accuracy", "nll"]',
        'report = ["accuracy", "f2"]',
        ["[metrics].report", "f2"],
    ),
    "primary not reported": (
        'report = ["accuracy", "nll"]',
        'report = ["nll"]',
        ["[metrics].primary", "[metrics].report"],
    ),
    "repeated report metric": (
        'report = ["accuracy", "nll"]',
        'report = ["accuracy", "accuracy"]',
        ["[metrics].report"],
    ),
    "missing report": ('report = ["accuracy", "nll"]\n', "", ["'[metrics].report'"]),
    "bad slice column name": ('columns = ["ink"]', 'columns = ["Ink level"]', ["[slices].columns", "Ink level"]),
    "reserved slice column": ('columns = ["ink"]', 'columns = ["labels"]', ["[slices].columns", "labels"]),
    "repeated slice column": ('columns = ["ink"]', 'columns = ["ink", "ink"]', ["[slices].columns"]),
    "unknown perturbation": ('name = "blur"', 'name = "rotate"', ["[[perturbations]][0].name", "rotate"]),
    "severity zero": ("severities = [3, 1, 2]", "severities = [0, 1]", ["[[perturbations]][0].severities"]),
    "severity six": ("severities = [3, 1, 2]", "severities = [6]", ["[[perturbations]][0].severities"]),
    "repeated severity": ("severities = [3, 1, 2]", "severities = [1, 1]", ["[[perturbations]][0].severities"]),
    "missing severities": ("severities = [3, 1, 2]\n", "", ["'[[perturbations]][0].severities'"]),
    "eps on a corruption": (
        "severities = [3, 1, 2]",
        "severities = [1]\neps = [0.1]",
        ["unknown key 'eps'", "[[perturbations]][0]"],
    ),
    "severities on an attack": (
        "eps = [0.1, 0.03]",
        "eps = [0.1]\nseverities = [1]",
        ["unknown key 'severities'", "[[perturbations]][1]"],
    ),
    "negative eps": ("eps = [0.1, 0.03]", "eps = [-0.1]", ["[[perturbations]][1].eps"]),
    "eps wider than the range": ("eps = [0.1, 0.03]", "eps = [2.0]", ["[[perturbations]][1].eps"]),
    "missing eps": ("eps = [0.1, 0.03]\n", "", ["'[[perturbations]][1].eps'"]),
    "repeated perturbation": (
        'name = "fgsm"\neps = [0.1, 0.03]',
        'name = "blur"\nseverities = [1]',
        ["[[perturbations]][1].name", "twice"],
    ),
    "tabular perturbation on images": (
        'name = "blur"',
        'name = "feature_noise"',
        ["[[perturbations]][0].name", "feature_noise"],
    ),
    "strength of zero": ("severities = [3, 1, 2]", "severities = [1]\nstrength = 0", ["[[perturbations]][0].strength"]),
    "negative strength": (
        "severities = [3, 1, 2]",
        "severities = [1]\nstrength = -1.5",
        ["[[perturbations]][0].strength"],
    ),
    "strength as text": (
        "severities = [3, 1, 2]",
        'severities = [1]\nstrength = "2"',
        ["[[perturbations]][0].strength", '"2"'],
    ),
    "boolean strength": (
        "severities = [3, 1, 2]",
        "severities = [1]\nstrength = true",
        ["[[perturbations]][0].strength"],
    ),
    "infinite strength": (
        "severities = [3, 1, 2]",
        "severities = [1]\nstrength = inf",
        ["[[perturbations]][0].strength"],
    ),
    "strength on an attack": (
        "eps = [0.1, 0.03]",
        "eps = [0.1]\nstrength = 2.0",
        ["unknown key 'strength'", "[[perturbations]][1]"],
    ),
    "features on an image corruption": (
        "severities = [3, 1, 2]",
        "severities = [1]\nfeatures = [0]",
        ["unknown key 'features'", "[[perturbations]][0]"],
    ),
    "missing era order": ('order = ["2020", "2021"]\n', "", ["'[drift].order'"]),
    "empty era order": ('order = ["2020", "2021"]', "order = []", ["[drift].order"]),
    "bad era column": ('era_column = "era"', 'era_column = "item_ids"', ["[drift].era_column"]),
    "unknown drift key": ('era_column = "era"', 'era_column = "era"\nslope = true', ["unknown key 'slope'", "[drift]"]),
    "feedback fraction of one": ("feedback_fraction = 0.25", "feedback_fraction = 1.0", ["[hidden].feedback_fraction"]),
    "feedback fraction of zero": ("feedback_fraction = 0.25", "feedback_fraction = 0", ["[hidden].feedback_fraction"]),
    "feedback fraction as text": (
        "feedback_fraction = 0.25",
        'feedback_fraction = "0.3"',
        ["[hidden].feedback_fraction"],
    ),
    "unknown hidden key": (
        "feedback_fraction = 0.25",
        "feedback_fraction = 0.25\nfinal = 0.7",
        ["unknown key 'final'", "[hidden]"],
    ),
    "validation fraction of one": (
        "feedback_fraction = 0.25",
        "feedback_fraction = 0.25\n\n[dev]\nvalidation_fraction = 1",
        ["[dev].validation_fraction", "strictly between 0 and 1"],
    ),
    "unknown dev key": (
        "feedback_fraction = 0.25",
        "feedback_fraction = 0.25\n\n[dev]\ntrain_fraction = 0.8",
        ["unknown key 'train_fraction'", "[dev]"],
    ),
    "invalid toml": ('title = "Tiny images"', "title = Tiny images", ["not valid TOML"]),
}


@pytest.mark.parametrize("old, new, fragments", SPEC_CASES.values(), ids=SPEC_CASES.keys())
def test_it_rejects_a_malformed_spec_naming_the_key(old, new, fragments):
    assert old in VALID_TOML, "the test case must change the valid spec"
    with pytest.raises(SpecError) as caught:
        parse_spec(VALID_TOML.replace(old, new, 1))
    message = str(caught.value)
    assert message.startswith("benchmark.toml: ")
    for fragment in fragments:
        assert fragment in message


def test_it_rejects_perturbations_that_are_not_tables():
    toml = 'perturbations = ["blur"]\n' + VALID_TOML.split("[[perturbations]]")[0]
    with pytest.raises(SpecError, match=r"^benchmark\.toml: perturbations must be an array of tables"):
        parse_spec(toml)


def test_it_rejects_an_image_perturbation_on_tabular_input():
    toml = VALID_TOML.replace("shape = [1, 2, 2]", "shape = [4]")
    with pytest.raises(SpecError, match=r"\[\[perturbations\]\]\[0\]\.name 'blur' is an image perturbation"):
        parse_spec(toml)


# The canonical JSON of VALID_TOML as every folder published before strength and features
# existed has it, written out by hand: a change here changes the content hash of old folders.
VALID_TOML_CANONICAL_JSON = (
    '{"changelog":"First version.","classes":["a","b","c"],'
    '"description":"Two-by-two images of three kinds.","era_column":"era","era_order":["2020","2021"],'
    '"feedback_fraction":0.25,"input_dtype":"float32","input_range":[0.0,1.0],"input_shape":[1,2,2],'
    '"license":"CC0-1.0","perturbations":['
    '{"adversarial":false,"eps":[],"name":"blur","severities":[1,2,3]},'
    '{"adversarial":true,"eps":[0.03,0.1],"name":"fgsm","severities":[]}],'
    '"primary_metric":"accuracy","report_metrics":["accuracy","nll"],"slice_columns":["ink"],'
    '"slug":"tiny-images","source":"Made up for the tests","task":"classification",'
    '"title":"Tiny images","version":"1.0.0"}'
)


def test_a_spec_without_strength_or_features_keeps_its_canonical_json():
    assert canonical_spec_json(parse_spec(VALID_TOML)) == VALID_TOML_CANONICAL_JSON


def test_a_folder_with_older_perturbation_names_keeps_its_content_hash(tmp_path):
    # Written byte for byte the same on every run, so its content hash is a constant, computed
    # before the corruption suite grew and kept here.
    toml = VALID_TOML
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "benchmark.toml").write_text(toml, encoding="utf-8")
    write_npz(folder / "dev.npz", split_arrays("dev"))
    write_npz(folder / "test.npz", split_arrays("test", 18))
    loaded = load_benchmark(folder)
    assert loaded.spec.perturbations[0] == PerturbationSpec("blur", (1, 2, 3), (), False)
    assert loaded.content_hash == "7078032bf47a76e62aca3d29be44555c57c3c0cd6e5c68ed2fb9c480095968b4"
    for old in ("shift", "salt_and_pepper"):
        assert parse_spec(toml.replace('name = "blur"', f'name = "{old}"')).perturbations[0].name == old


def test_strength_and_features_are_parsed_and_enter_the_canonical_json_only_when_set():
    spec = parse_spec(VALID_TOML.replace("severities = [3, 1, 2]", "severities = [3, 1, 2]\nstrength = 2"))
    assert spec.perturbations[0] == PerturbationSpec("blur", (1, 2, 3), (), False, strength=2.0)
    assert isinstance(spec.perturbations[0].strength, float)
    document = spec.as_dict()
    assert document["perturbations"][0] == {
        "name": "blur", "severities": [1, 2, 3], "eps": [], "adversarial": False, "strength": 2.0,
    }  # fmt: skip
    assert "strength" not in document["perturbations"][1] and "features" not in document["perturbations"][1]
    assert canonical_spec_json(spec) != VALID_TOML_CANONICAL_JSON

    tabular = TABULAR_TOML + '\n[[perturbations]]\nname = "covariate_shift"\nseverities = [1, 5]\nfeatures = [3, 0]\n'
    (shift,) = parse_spec(tabular).perturbations
    assert shift == PerturbationSpec("covariate_shift", (1, 5), (), False, features=(3, 0))
    assert parse_spec(tabular).as_dict()["perturbations"][0]["features"] == [3, 0]


def test_public_source_is_parsed_and_enters_the_canonical_json_only_when_true():
    assert parse_spec(VALID_TOML).public_source is False
    public = parse_spec(
        VALID_TOML.replace("feedback_fraction = 0.25", "feedback_fraction = 0.25\npublic_source = true")
    )
    assert public.public_source is True and public.feedback_fraction == 0.25
    assert public.as_dict()["public_source"] is True
    assert canonical_spec_json(public) == VALID_TOML_CANONICAL_JSON.replace(
        '"primary_metric":"accuracy",', '"primary_metric":"accuracy","public_source":true,'
    )
    # Written out as false it means the same as absent, and hashes the same.
    private = parse_spec(
        VALID_TOML.replace("feedback_fraction = 0.25", "feedback_fraction = 0.25\npublic_source = false")
    )
    assert "public_source" not in private.as_dict()
    assert canonical_spec_json(private) == VALID_TOML_CANONICAL_JSON


@pytest.mark.parametrize("value", ['"yes"', "1", "[true]"])
def test_it_rejects_a_public_source_that_is_not_a_boolean(value):
    with pytest.raises(SpecError, match=r"\[hidden\]\.public_source must be true or false"):
        parse_spec(VALID_TOML.replace("feedback_fraction = 0.25", f"feedback_fraction = 0.25\npublic_source = {value}"))


TABULAR_TOML = VALID_TOML.split("[slices]")[0].replace("shape = [1, 2, 2]", "shape = [4]")


@pytest.mark.parametrize(
    "features, fragment",
    [("[4]", "from 0 to 3"), ("[-1]", "[-1]"), ("[1, 1]", "distinct"), ("[]", "non-empty"), ("[1.0]", "[1.0]"),
     ('"all"', '"all"')],
)  # fmt: skip
def test_it_rejects_covariate_shift_features_that_are_not_distinct_feature_indices(features, fragment):
    toml = TABULAR_TOML + f'\n[[perturbations]]\nname = "covariate_shift"\nseverities = [1]\nfeatures = {features}\n'
    with pytest.raises(SpecError) as caught:
        parse_spec(toml)
    assert "[[perturbations]][0].features" in str(caught.value) and fragment in str(caught.value)


def test_features_belong_to_covariate_shift_only():
    toml = TABULAR_TOML + '\n[[perturbations]]\nname = "feature_noise"\nseverities = [1]\nfeatures = [0]\n'
    with pytest.raises(SpecError, match=r"unknown key 'features' in \[\[perturbations\]\]\[0\]"):
        parse_spec(toml)


def drop(name: str) -> Callable[[dict], None]:
    return lambda arrays: arrays.pop(name)


def replace(name: str, make: Callable[[dict], np.ndarray]) -> Callable[[dict], None]:
    def change(arrays: dict) -> None:
        arrays[name] = make(arrays)

    return change


# Each case: (split to break, change, fragments the error message must contain).
ARRAY_CASES = {
    "missing inputs": ("dev", drop("inputs"), ["dev.npz", "missing array 'inputs'"]),
    "missing labels": ("test", drop("labels"), ["test.npz", "missing array 'labels'"]),
    "missing item ids": ("dev", drop("item_ids"), ["dev.npz", "'item_ids'"]),
    "float64 inputs": (
        "dev",
        replace("inputs", lambda a: a["inputs"].astype(np.float64)),
        ["'inputs'", "float32", "float64"],
    ),
    "inputs of the wrong shape": (
        "dev",
        replace("inputs", lambda a: a["inputs"].reshape(-1, 4)),
        ["'inputs'", "[N, 1, 2, 2]", "[12, 4]"],
    ),
    "no items": ("dev", lambda a: a.update({k: v[:0] for k, v in a.items()}), ["'inputs'", "no items"]),
    "NaN input": (
        "test",
        replace(
            "inputs",
            lambda a: np.where(np.arange(18)[:, None, None, None] == 3, np.nan, a["inputs"]).astype(np.float32),
        ),
        ["test.npz", "'inputs'", "NaN"],
    ),
    "input outside the range": (
        "dev",
        replace("inputs", lambda a: a["inputs"] + np.float32(0.5)),
        ["'inputs'", "[input].range"],
    ),
    "int32 labels": ("dev", replace("labels", lambda a: a["labels"].astype(np.int32)), ["'labels'", "int64", "int32"]),
    "label out of range": ("dev", replace("labels", lambda a: np.full(12, 3, dtype=np.int64)), ["'labels'", "[0, 2]"]),
    "negative label": ("test", replace("labels", lambda a: -a["labels"] - 1), ["test.npz", "'labels'"]),
    "short labels": ("dev", replace("labels", lambda a: a["labels"][:-1]), ["'labels'", "[12]"]),
    "byte-string item ids": (
        "dev",
        replace("item_ids", lambda a: a["item_ids"].astype("S")),
        ["'item_ids'", "unicode"],
    ),
    "repeated item id": (
        "dev",
        replace("item_ids", lambda a: np.where(np.arange(12) == 5, "dev-000", a["item_ids"])),
        ["'item_ids'", "repeats 'dev-000'"],
    ),
    "empty item id": (
        "dev",
        replace("item_ids", lambda a: np.where(np.arange(12) == 5, "", a["item_ids"])),
        ["'item_ids'", "empty"],
    ),
    "object item ids": (
        "dev",
        replace("item_ids", lambda a: a["item_ids"].astype(object)),
        ["'item_ids'", "Python objects"],
    ),
    "unknown array": ("dev", replace("weights", lambda a: np.ones(12)), ["dev.npz", "unknown array 'weights'"]),
    "missing slice column": ("test", drop("ink"), ["test.npz", "missing metadata column 'ink'"]),
    "missing era column": ("dev", drop("era"), ["dev.npz", "'era'"]),
    "short slice column": ("dev", replace("ink", lambda a: a["ink"][:5]), ["metadata column 'ink'", "length 12"]),
    "float slice column": ("dev", replace("ink", lambda a: np.ones(12)), ["metadata column 'ink'", "float64"]),
    "unknown era": (
        "dev",
        replace("era", lambda a: np.array(["2019"] * 12)),
        ["era column 'era'", "'2019'", "[drift].order"],
    ),
    "era absent from the hidden split": (
        "test",
        replace("era", lambda a: np.array(["2020"] * 18)),
        ["test.npz", "'2021'"],
    ),
    "ids shared across splits": (
        "test",
        replace("item_ids", lambda a: np.char.replace(a["item_ids"], "test", "dev")),
        ["'item_ids'", "overlap", "'dev-000'"],
    ),
    "cluster in one split only": ("test", drop("cluster"), ["'cluster'", "dev.npz"]),
}


@pytest.mark.parametrize("split, change, fragments", ARRAY_CASES.values(), ids=ARRAY_CASES.keys())
def test_it_rejects_a_malformed_array_naming_the_file_and_array(tmp_path, split, change, fragments):
    arrays = {"dev": split_arrays("dev"), "test": split_arrays("test", 18)}
    change(arrays[split])
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "benchmark.toml").write_text(VALID_TOML, encoding="utf-8")
    for name, content in arrays.items():
        # np.savez pickles object arrays, which the loader must then refuse to read.
        np.savez(folder / f"{name}.npz", **content)
    with pytest.raises(SpecError) as caught:
        load_benchmark(folder)
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize("name", ["benchmark.toml", "dev.npz", "test.npz"])
def test_it_names_a_missing_file(tmp_path, name):
    folder = make_folder(tmp_path / "partial")
    (folder / name).unlink()
    with pytest.raises(SpecError, match=rf"^{name}: missing"):
        load_benchmark(folder)


def test_it_rejects_a_split_that_is_not_an_npz_archive(tmp_path):
    folder = make_folder(tmp_path / "npy")
    np.save(folder / "test.npy", np.zeros(3))
    (folder / "test.npy").rename(folder / "test.npz")
    with pytest.raises(SpecError, match=r"^test\.npz: not an \.npz archive"):
        load_benchmark(folder)


def test_it_rejects_a_truncated_archive(tmp_path):
    folder = make_folder(tmp_path / "truncated")
    data = (folder / "dev.npz").read_bytes()
    (folder / "dev.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(SpecError, match=r"^dev\.npz: "):
        load_benchmark(folder)


def test_it_rejects_a_folder_that_does_not_exist(tmp_path):
    with pytest.raises(SpecError, match="not a directory"):
        load_benchmark(tmp_path / "nowhere")


def test_it_rejects_an_unknown_split_name(tmp_path):
    folder = load_benchmark(make_folder(tmp_path / "ok"))
    with pytest.raises(SpecError, match="unknown split 'train'"):
        folder.load_split("train")


def test_the_content_hash_is_stable_across_loads_and_copies(tmp_path):
    first = load_benchmark(make_folder(tmp_path / "first"))
    shutil.copytree(tmp_path / "first", tmp_path / "copy")
    assert load_benchmark(tmp_path / "first").content_hash == first.content_hash
    assert load_benchmark(tmp_path / "copy").content_hash == first.content_hash
    assert load_benchmark(tmp_path / "copy").file_hashes == first.file_hashes


@pytest.mark.parametrize("name", ["benchmark.toml", "dev.npz", "test.npz"])
def test_the_content_hash_changes_when_any_file_changes(tmp_path, name):
    original = load_benchmark(make_folder(tmp_path / "original"))
    if name == "benchmark.toml":
        # Even a change the parsed spec does not see (a comment) makes a different version.
        changed = make_folder(tmp_path / "changed", toml=VALID_TOML + "# note\n")
        assert load_benchmark(changed).spec == original.spec
    else:
        arrays = split_arrays(name.split(".")[0], 12 if name == "dev.npz" else 18)
        arrays["inputs"] = arrays["inputs"] * np.float32(0.5)
        changed = make_folder(tmp_path / "changed", **{name.split(".")[0]: arrays})
    reloaded = load_benchmark(changed)
    assert reloaded.content_hash != original.content_hash
    assert reloaded.file_hashes[name] != original.file_hashes[name]
    assert {k: v for k, v in reloaded.file_hashes.items() if k != name} == {
        k: v for k, v in original.file_hashes.items() if k != name
    }


def test_load_split_refuses_a_file_changed_after_loading(tmp_path):
    folder = load_benchmark(make_folder(tmp_path / "swap"))
    arrays = split_arrays("test", 18)
    arrays["labels"] = np.zeros(18, dtype=np.int64)
    np.savez(folder.path / "test.npz", **arrays)
    with pytest.raises(SpecError, match=r"^test\.npz: changed since"):
        folder.load_split("test")
