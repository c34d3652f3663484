"""The torch.export program check: what torch.export.save writes passes, evaluable code fails."""

from __future__ import annotations

import copy
import io
import json
import zipfile

import pytest
import torch

from evaluation.archive_program import (
    check_program,
    is_allowed_target,
    is_safe_expression,
    is_safe_guard,
)
from evaluation.archive_zip import ParseBudget
from evaluation.errors import ModelFileError


class TwoInputs(torch.nn.Module):
    """Dynamic sizes that make torch write guards, FloorDiv expressions and _operator targets."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x + y).reshape(x.shape[0], -1)[:, : x.shape[0] // 2]


class Head(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3),
            torch.nn.BatchNorm2d(4),
            torch.nn.ReLU(),
            torch.nn.Flatten(),
            torch.nn.Linear(144, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _program(module: torch.nn.Module, example: tuple, dynamic_shapes: tuple) -> dict:
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(module.eval(), example, dynamic_shapes=dynamic_shapes), buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        name = next(n for n in archive.namelist() if n.endswith("models/model.json"))
        return json.loads(archive.read(name))


@pytest.fixture(scope="module")
def programs() -> dict[str, dict]:
    auto = torch.export.Dim.AUTO
    return {
        "two inputs": _program(TwoInputs(), (torch.zeros(8, 3), torch.zeros(8, 3)), ({0: auto}, {0: auto})),
        "head": _program(Head(), (torch.zeros(4, 1, 8, 8),), ({0: torch.export.Dim("batch", min=1, max=1024)},)),
    }


def _check(program: dict) -> None:
    check_program(program, where="'m/models/model.json'", budget=ParseBudget(60))


def _strings(value, key=""):
    if isinstance(value, dict):
        for child_key, child in value.items():
            yield from _strings(child, child_key)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child, key)
    elif isinstance(value, str):
        yield key, value


def test_it_accepts_what_torch_export_save_writes(programs):
    two_inputs = programs["two inputs"]
    written = list(_strings(two_inputs))
    # The exported programs really exercise every rule.
    assert two_inputs["guards_code"]
    assert any(key == "expr_str" and "FloorDiv" in value for key, value in written)
    assert any(key == "target" and value.startswith("_operator.") for key, value in written)

    for program in programs.values():
        _check(program)
    for key, value in written:
        if key == "expr_str":
            assert is_safe_expression(value)
        if key == "target":
            assert is_allowed_target(value)


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('id')",
        "Symbol('s0', integer=True) + 0*__import__('os').system('id')",
        "().__class__.__base__.__subclasses__()",
        "Symbol('s0').__class__",
        "(lambda: 1)()",
        "[c for c in Symbol('s0').args]",
        "Symbol('__import__')",
        "Symbol('s0')\nimport os",
        "exec('1')",
        "S('x')",
        "Symbol('s0') # comment",
    ],
)
def test_it_refuses_shape_expressions_that_are_code(expression):
    assert not is_safe_expression(expression)


@pytest.mark.parametrize(
    "guard",
    [
        "__import__('os').system('id') == 0",
        "L['x'].__class__ == 1",
        "L['x'].size()[0] == 1; import os",
        "L['x'].size()[0] == len(L)",
        "L['x'].size()[0] == 1\nimport os",
    ],
)
def test_it_refuses_guards_that_are_code(guard):
    assert not is_safe_guard(guard)


def test_it_accepts_the_guards_torch_writes():
    assert is_safe_guard("L['x'].size()[0] == L['y'].size()[0]")
    assert is_safe_guard("(L['y'].size()[0] // 2) > 3")
    assert is_safe_guard("2 <= L['x'].size()[0] and L['x'].size()[0] <= 64")


@pytest.mark.parametrize(
    "target",
    [
        "torch.os.system",
        "torch.load",
        "torch.serialization.pickle.loads",
        "builtins.eval",
        "_operator.call",
        "_operator.attrgetter",
        "math.__loader__.load_module",
        "torch.ops.aten.__class__.__call__",
        "#custom.namespace:op",
    ],
)
def test_it_refuses_targets_outside_aten_and_arithmetic(target):
    assert not is_allowed_target(target)


def _edited(program: dict, edit) -> dict:
    program = copy.deepcopy(program)
    edit(program)
    return program


def _first_parameter(program: dict) -> dict:
    return next(
        spec["parameter"] for spec in program["graph_module"]["signature"]["input_specs"] if "parameter" in spec
    )


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda p: p.update(guards_code=["__import__('os').system('id') == 0"]), "a guard"),
        (lambda p: p["graph_module"]["graph"]["nodes"][0].update(target="torch.os.system"), "an operator"),
        (
            lambda p: _first_parameter(p).update(
                parameter_name='layers.0.weight") or exec("import os") or getattr(self, "x'
            ),
            "a name",
        ),
        (
            lambda p: p["graph_module"]["module_call_graph"][0]["signature"].update(
                in_spec='[1, {"type": "collections.defaultdict", "context": "{}", "children_spec": []}]'
            ),
            "a tree spec of another type",
        ),
        (
            lambda p: p["graph_module"]["module_call_graph"][0]["signature"].update(
                out_spec='[1, {"type": null, "context": "{\\"__enum__\\": true}", "children_spec": []}]'
            ),
            "naming an enum",
        ),
    ],
)
def test_it_refuses_a_program_carrying_code(programs, edit, words):
    with pytest.raises(ModelFileError) as caught:
        _check(_edited(programs["head"], edit))

    assert words in str(caught.value)
    assert "'m/models/model.json'" in str(caught.value)
    assert "would run code" in str(caught.value)


def test_it_walks_deep_programs_without_recursion():
    deep: list = []
    for _ in range(50_000):
        deep = [deep]

    _check({"graph_module": {"graph": {"nodes": deep}}, "guards_code": []})
