"""The preflight every upload runs (``evaluation.preflight``), and the README's export recipes run
as written: real bubblewrap, the shipped digits benchmark."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from evaluation.errors import MalformedOutputError, ModelFileError, ModelRaisedError
from evaluation.preflight import preflight_model
from tests.security.support import ATTACK_LIMITS, require_bubblewrap

README = Path(__file__).resolve().parents[2] / "README.md"
RECIPE = re.compile(r"<!-- export-recipe: (\S+) -->\n```python\n(.*?)```", re.S)
DYNAMIC = ", dynamic_shapes=({0: batch},)"


def recipes() -> dict[str, str]:
    return dict(RECIPE.findall(README.read_text(encoding="utf-8")))


@pytest.fixture
def bubblewrap() -> None:
    require_bubblewrap()


@pytest.fixture
def workdir(digits_folder, tmp_path, monkeypatch) -> Path:
    """A folder as a researcher has it after `touchstone fetch`: the recipes read digits/1.0.0/benchmark.toml."""
    (tmp_path / "digits" / "1.0.0").mkdir(parents=True)
    shutil.copy(digits_folder / "benchmark.toml", tmp_path / "digits" / "1.0.0" / "benchmark.toml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_recipe(code: str, workdir: Path) -> None:
    exec(compile(code, f"{README}:export-recipe", "exec"), {"__name__": "recipe"})


def preflight(path: Path, digits_folder: Path):
    return preflight_model(path, digits_folder, limits=ATTACK_LIMITS)


def test_the_readme_has_a_torchscript_and_a_torch_export_recipe():
    found = recipes()
    assert set(found) == {"torchscript", "torch.export"}
    assert DYNAMIC in found["torch.export"]


@pytest.mark.parametrize("name, filename", [("torchscript", "model.pt"), ("torch.export", "model.pt2")])
def test_each_readme_recipe_gives_a_file_that_passes_the_preflight(bubblewrap, workdir, digits_folder, name, filename):
    run_recipe(recipes()[name], workdir)
    result = preflight(workdir / filename, digits_folder)
    assert result.file.format == ("torchscript" if name == "torchscript" else "torch.export")
    assert result.n_items == 257


def test_the_torch_export_recipe_without_its_dynamic_batch_is_refused_with_the_fix(workdir, digits_folder):
    run_recipe(recipes()["torch.export"].replace(DYNAMIC, ""), workdir)
    with pytest.raises(ModelFileError) as refused:
        preflight(workdir / "model.pt2", digits_folder)
    message = str(refused.value)
    assert "fixes the batch size to 2" in message
    assert "dynamic_shapes={'input': {0: torch.export.Dim('batch')}}" in message


def test_the_torch_export_recipe_with_a_largest_batch_below_the_sites_fails_saying_so(
    bubblewrap, workdir, digits_folder
):
    code = recipes()["torch.export"].replace('Dim("batch")', 'Dim("batch", max=64)')
    run_recipe(code, workdir)
    with pytest.raises(ModelRaisedError) as failed:
        preflight(workdir / "model.pt2", digits_folder)
    message = str(failed.value)
    assert "ran on batches of 1 and 3 items but failed on a batch of 256" in message
    assert "raise it to at least 256" in message
    assert "<= 64" in message


class FixedBatch(torch.nn.Module):
    """Reshapes to a constant batch size, as a trace of ``x.view(x.shape[0], -1)`` can."""

    def __init__(self, batch: int) -> None:
        super().__init__()
        self.batch = batch
        self.linear = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.reshape(self.batch, 64))


class Probabilities(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(x.flatten(1)), dim=1)


def scripted(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module.eval()), str(path))
    return path


@pytest.mark.parametrize("batch, works, fails", [(1, "1 item", "3 items"), (3, "3 items", "1 item")])
def test_a_model_with_a_fixed_batch_size_fails_saying_so(bubblewrap, digits_folder, tmp_path, batch, works, fails):
    model = scripted(FixedBatch(batch), tmp_path / "fixed.pt")
    with pytest.raises(ModelRaisedError) as failed:
        preflight(model, digits_folder)
    message = str(failed.value)
    assert message.startswith("Preflight on the first 257 items of the public dev split")
    assert f"the model has a fixed batch size: it ran on a batch of {works} but failed on a batch of {fails}" in message
    assert "torch.export.Dim('batch')" in message


def test_an_upload_that_returns_probabilities_is_refused_with_the_fix(bubblewrap, digits_folder, tmp_path):
    model = scripted(Probabilities(), tmp_path / "probabilities.pt")
    with pytest.raises(MalformedOutputError) as refused:
        preflight(model, digits_folder)
    message = str(refused.value)
    assert "these are probabilities, not logits" in message
    assert "torch.log_softmax" in message
