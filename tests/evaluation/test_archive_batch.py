"""The upload check of a torch.export program's batch dimension (``evaluation.archive_batch``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from evaluation.archive import inspect_model_file
from evaluation.archive_batch import check_batch_dimension
from evaluation.errors import ModelFileError


class Scores(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.linear(pixels)


def exported(path: Path, example_batch: int, dynamic_shapes: tuple | None = None) -> Path:
    program = torch.export.export(Scores().eval(), (torch.zeros(example_batch, 4),), dynamic_shapes=dynamic_shapes)
    torch.export.save(program, str(path))
    return path


def test_it_refuses_a_program_exported_without_a_dynamic_batch_dimension_and_names_the_fix(tmp_path):
    with pytest.raises(ModelFileError) as refused:
        inspect_model_file(exported(tmp_path / "static.pt2", 2), max_bytes=1 << 30)
    message = str(refused.value)
    assert "fixes the batch size to 2" in message
    assert "its input 'pixels' has shape [2, 4]" in message
    assert "dynamic_shapes={'pixels': {0: torch.export.Dim('batch')}}" in message


def test_it_refuses_a_program_exported_from_a_single_item(tmp_path):
    with pytest.raises(ModelFileError, match="fixes the batch size to 1"):
        inspect_model_file(exported(tmp_path / "one.pt2", 1), max_bytes=1 << 30)


def test_it_refuses_a_batch_dimension_that_excludes_a_batch_of_one(tmp_path):
    batch = torch.export.Dim("batch", min=2, max=512)
    with pytest.raises(ModelFileError, match="only batches of at least 2 items"):
        inspect_model_file(exported(tmp_path / "min2.pt2", 4, ({0: batch},)), max_bytes=1 << 30)


def test_it_accepts_a_dynamic_batch_dimension(tmp_path):
    path = exported(tmp_path / "dynamic.pt2", 2, ({0: torch.export.Dim("batch")},))
    assert inspect_model_file(path, max_bytes=1 << 30).format == "torch.export"


def test_it_leaves_a_program_of_another_layout_to_the_preflight():
    check_batch_dimension({"graph_module": {"graph": {}, "signature": {"input_specs": "?"}}}, where="'model.json'")
    check_batch_dimension([], where="'model.json'")
