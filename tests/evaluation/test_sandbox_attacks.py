"""Label-free attacks and saliency in the real sandbox (``SandboxedModel.attack``/``saliency``).

Every test runs real models under bubblewrap; references are computed with plain torch in this
process, or derived by hand for a model whose logits are its inputs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from catalog import BUILDERS
from catalog.baselines import train_baselines
from evaluation.sandbox import AttackResult, SandboxedModel
from evaluation.sandbox.gradients import NOT_FINITE, ZERO_GRADIENTS
from evaluation.spec import load_benchmark
from tests.evaluation import gradient_models
from tests.security import models
from tests.security.support import ATTACK_LIMITS, require_bubblewrap

LIMITS = ATTACK_LIMITS
FORMATS = ["torchscript", "torch.export"]


@pytest.fixture
def bubblewrap() -> None:
    require_bubblewrap()


@pytest.fixture(scope="module")
def normal_models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("normal")
    return {fmt: models.build_normal_model(folder / fmt, model_format=fmt) for fmt in FORMATS}


@pytest.fixture(scope="module")
def sessions(normal_models):
    """One session per format, shared by the tests that only read from it (starting one costs
    seconds); batches of 16. The deadline covers the session's whole life, so it is longer."""
    require_bubblewrap()
    limits = dataclasses.replace(LIMITS, wall_seconds=600.0, cpu_seconds=600)
    with SandboxedModel(normal_models["torchscript"], limits=limits, batch_size=16) as script:
        with SandboxedModel(normal_models["torch.export"], limits=limits, batch_size=16) as export:
            yield {"torchscript": script, "torch.export": export}


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("odd")
    return {name: gradient_models.build(name, folder) for name in gradient_models.BUILDERS}


def _attack(model: SandboxedModel, inputs: np.ndarray, method: str, eps: float, seed: int = 0) -> AttackResult:
    return model.attack(inputs, n_classes=10, method=method, eps=eps, low=0.0, high=1.0, seed=seed)


@pytest.mark.parametrize("model_format", FORMATS)
def test_fgsm_and_pgd_at_eps_zero_leave_the_logits_unchanged(sessions, model_format):
    inputs = models.normal_inputs(150, seed=3)
    model = sessions[model_format]
    clean = model.predict(inputs, n_classes=10)
    fgsm = _attack(model, inputs, "fgsm", 0.0)
    pgd = _attack(model, inputs, "pgd", 0.0)
    moved = _attack(model, inputs, "fgsm", 0.05)

    assert fgsm.attackable and pgd.attackable and fgsm.reason is None
    np.testing.assert_array_equal(fgsm.logits, clean)
    np.testing.assert_array_equal(pgd.logits, clean)
    assert fgsm.logits.dtype == np.float32
    # The same call with a positive eps does change them: the check above can fail.
    assert np.abs(moved.logits - clean).max() > 1e-3


def test_attacked_inputs_stay_within_eps_and_the_input_range(bubblewrap, odd_models):
    # The echo model's logits are its inputs. For CE(x, argmax x) the gradient is
    # softmax(x) - onehot(argmax x): negative at the predicted class, positive elsewhere, so one
    # FGSM step (and PGD, whose 10 steps of eps/4 reach the ball's edge from any start) lands on
    # clip(x + eps * s) with s = -1 at the prediction and +1 elsewhere.
    rng = np.random.default_rng(11)
    inputs = rng.random((120, gradient_models.N_FEATURES), dtype=np.float32)
    inputs[:5, 0] = 0.0  # on the range's edge: clipping must act
    eps = 0.1
    sign = np.ones_like(inputs)
    sign[np.arange(len(inputs)), inputs.argmax(axis=1)] = -1.0
    expected = np.clip(inputs + np.float32(eps) * sign, 0.0, 1.0)

    with SandboxedModel(odd_models["echo"], limits=LIMITS, batch_size=32) as model:
        fgsm = _attack(model, inputs, "fgsm", eps)
        pgd = _attack(model, inputs, "pgd", eps, seed=5)

    for result in (fgsm, pgd):
        attacked = result.logits
        assert attacked.min() >= 0.0 and attacked.max() <= 1.0
        assert np.abs(attacked - inputs).max() <= eps + 1e-6
        np.testing.assert_allclose(attacked, expected, atol=1e-6)


def test_pgd_lowers_a_trained_baselines_accuracy_at_least_as_much_as_fgsm(bubblewrap, tmp_path):
    folder = BUILDERS["digits"](tmp_path / "digits").path
    (cnn,) = [b for b in train_baselines(folder, tmp_path / "baselines") if b.name == "Small CNN"]
    test = load_benchmark(folder).load_split("test")
    inputs = test.inputs.astype(np.float32)

    accuracy: dict[str, float] = {}
    with SandboxedModel(cnn.path, limits=LIMITS, batch_size=256) as model:
        accuracy["clean"] = float((model.predict(inputs, n_classes=10).argmax(1) == test.labels).mean())
        for method in ("fgsm", "pgd"):
            result = _attack(model, inputs, method, 0.1, seed=1)
            accuracy[method] = float((result.logits.argmax(1) == test.labels).mean())

    assert accuracy["clean"] > 0.9
    assert accuracy["fgsm"] < accuracy["clean"] - 0.05
    assert accuracy["pgd"] <= accuracy["fgsm"]


def test_the_same_seed_gives_identical_pgd_logits(sessions):
    inputs = models.normal_inputs(100, seed=4)
    model = sessions["torchscript"]
    first = _attack(model, inputs, "pgd", 0.2, seed=7)
    again = _attack(model, inputs, "pgd", 0.2, seed=7)
    other = _attack(model, inputs, "pgd", 0.2, seed=8)

    np.testing.assert_array_equal(first.logits, again.logits)
    assert not np.array_equal(first.logits, other.logits)  # the seed does drive the start


@pytest.mark.parametrize("name", ["no_grad", "one_hot_argmax"])
def test_a_model_whose_gradients_are_cut_is_not_attackable_and_has_no_saliency(bubblewrap, odd_models, name):
    inputs = np.random.default_rng(2).random((40, gradient_models.N_FEATURES), dtype=np.float32)
    with SandboxedModel(odd_models[name], limits=LIMITS, batch_size=16) as model:
        clean = model.predict(inputs, n_classes=10)
        fgsm = _attack(model, inputs, "fgsm", 0.1)
        pgd = _attack(model, inputs, "pgd", 0.1)
        maps = model.saliency(inputs, n_classes=10, targets=clean.argmax(1))
        # Being not attackable is an outcome, not a failure: the session goes on.
        after = model.predict(inputs, n_classes=10)

    for result in (fgsm, pgd):
        assert result == AttackResult(logits=None, attackable=False, reason=ZERO_GRADIENTS)
    assert not maps.usable and maps.maps is None and maps.reason == ZERO_GRADIENTS
    np.testing.assert_array_equal(after, clean)


def test_a_model_with_nan_gradients_is_not_attackable(bubblewrap, odd_models):
    inputs = np.random.default_rng(3).random((20, gradient_models.N_FEATURES), dtype=np.float32)
    with SandboxedModel(odd_models["nan_gradient"], limits=LIMITS, batch_size=16) as model:
        clean = model.predict(inputs, n_classes=10)
        pgd = _attack(model, inputs, "pgd", 0.1)
        maps = model.saliency(inputs, n_classes=10, targets=clean.argmax(1))

    assert not pgd.attackable and pgd.logits is None and pgd.reason == NOT_FINITE
    assert not maps.usable and maps.reason == NOT_FINITE


def _reference_saliency(inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    point = torch.from_numpy(inputs).requires_grad_(True)
    output = models.normal_module()(point)
    (gradient,) = torch.autograd.grad(output[torch.arange(len(inputs)), torch.from_numpy(targets)].sum(), point)
    return gradient.abs().reshape(len(inputs), -1).numpy()


@pytest.mark.parametrize("model_format", FORMATS)
def test_saliency_equals_autograd_in_this_process(sessions, model_format):
    inputs = models.normal_inputs(90, seed=6)
    model = sessions[model_format]
    targets = model.predict(inputs, n_classes=10).argmax(1)
    result = model.saliency(inputs, n_classes=10, targets=targets)
    # Another target class gives other maps: the targets reach the child.
    shifted = model.saliency(inputs, n_classes=10, targets=(targets + 1) % 10)

    assert result.usable and result.reason is None
    assert result.maps.shape == (90, 64) and result.maps.dtype == np.float32
    np.testing.assert_allclose(result.maps, _reference_saliency(inputs, targets), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(shifted.maps, _reference_saliency(inputs, (targets + 1) % 10), rtol=1e-5, atol=1e-6)


def test_inputs_larger_than_one_chunk_give_the_same_results(sessions, normal_models):
    # An 8 KiB file-size cap sends 150 items in chunks of 16 saliency rows or 96 logit rows.
    inputs = models.normal_inputs(150, seed=8)
    small = dataclasses.replace(LIMITS, file_size_bytes=8 * 1024)
    with SandboxedModel(normal_models["torchscript"], limits=small, batch_size=16) as model:
        targets = model.predict(inputs, n_classes=10).argmax(1)
        chunked_fgsm = _attack(model, inputs, "fgsm", 0.1)
        chunked_maps = model.saliency(inputs, n_classes=10, targets=targets)
    whole_fgsm = _attack(sessions["torchscript"], inputs, "fgsm", 0.1)

    np.testing.assert_allclose(chunked_fgsm.logits, whole_fgsm.logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(chunked_maps.maps, _reference_saliency(inputs, targets), rtol=1e-5, atol=1e-6)


def test_a_model_that_raises_under_gradients_shows_its_message_on_public_inputs_only(bubblewrap, odd_models):
    inputs = np.full((8, gradient_models.N_FEATURES), 0.5, dtype=np.float32)
    inputs[0, 0] = 0.734215
    with SandboxedModel(odd_models["raises_under_grad"], limits=LIMITS, batch_size=8) as model:
        model.predict(inputs, n_classes=10)  # forward without gradients works
        public = _attack(model, inputs, "fgsm", 0.1)
        model.begin_hidden_inputs()
        hidden_attack = _attack(model, inputs, "pgd", 0.1)
        hidden_maps = model.saliency(inputs, n_classes=10, targets=np.zeros(8, dtype=np.int64))

    # The leak is real: on public inputs the model's message, with the input value, is shown.
    assert not public.attackable and gradient_models.LEAK_MARKER in public.reason and "0.7342" in public.reason
    assert "torch.jit.Error" in public.reason
    for reason in (hidden_attack.reason, hidden_maps.reason):
        assert reason == "the model raised torch.jit.Error while its input gradients were computed"
    assert not hidden_attack.attackable and not hidden_maps.usable


def test_a_backward_pass_that_raises_makes_the_model_not_attackable_naming_the_exception(bubblewrap, odd_models):
    inputs = np.random.default_rng(5).random((10, gradient_models.N_FEATURES), dtype=np.float32)
    with SandboxedModel(odd_models["raises_in_backward"], limits=LIMITS, batch_size=8) as model:
        clean = model.predict(inputs, n_classes=10)
        public = _attack(model, inputs, "fgsm", 0.1)
        model.begin_hidden_inputs()
        hidden = _attack(model, inputs, "fgsm", 0.1)
        after = model.predict(inputs, n_classes=10)

    assert not public.attackable and "NotImplementedError" in public.reason and "igamma" in public.reason
    assert hidden.reason == "the model raised NotImplementedError while its input gradients were computed"
    np.testing.assert_array_equal(after, clean)
