"""Hidden inputs never leave through a failure's message.

Each model behaves on the preflight's public batch and then writes the hidden inputs it is
given into a channel the evaluator used to echo: an exception message or the shape it
returns. The preflight must show every detail (so researchers can
debug), and a failure on hidden inputs must show none of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluation.errors import EvaluationError
from evaluation.preflight import preflight_batches
from evaluation.runner import run_preflight
from evaluation.sandbox import SandboxedModel
from tests.security.exfiltration import build_leaking_model, leaked_digits
from tests.security.models import N_CLASSES, normal_inputs
from tests.security.support import ATTACK_LIMITS

CHANNELS = {"error": "model_raised", "shape": "malformed_output"}


def _hidden_inputs() -> np.ndarray:
    # Values in [0.1, 0.9): every leaked number has three digits and cannot be confused with
    # the caps (1536, 60, 30, 64) that messages name.
    return (0.1 + 0.8 * normal_inputs(40, seed=7)).astype(np.float32)


def _leaked_text(channel: str, inputs: np.ndarray) -> str:
    digits = leaked_digits(inputs)
    if channel == "shape":
        return str(int(digits[0]) + 1000)
    return " ".join(digits[:4])


def _failure(model_path: Path, *, hide: bool) -> EvaluationError:
    with SandboxedModel(model_path, limits=ATTACK_LIMITS, batch_size=64) as model:
        run_preflight(model, normal_inputs(3, seed=1), n_classes=N_CLASSES)
        if hide:
            model.begin_hidden_inputs()
        with pytest.raises(EvaluationError) as caught:
            model.predict(_hidden_inputs(), n_classes=N_CLASSES)
    return caught.value


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_the_leaking_models_really_leak_when_details_are_shown(bubblewrap, tmp_path: Path, channel: str):
    model = build_leaking_model(tmp_path, channel, honest_calls=preflight_batches(3, 64))

    error = _failure(model, hide=False)

    assert error.code == CHANNELS[channel]
    assert _leaked_text(channel, _hidden_inputs()) in str(error)


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_a_failure_on_hidden_inputs_says_only_its_code_in_the_sites_words(bubblewrap, tmp_path: Path, channel: str):
    model = build_leaking_model(tmp_path, channel, honest_calls=preflight_batches(3, 64))

    error = _failure(model, hide=True)

    assert error.code == CHANNELS[channel]
    assert not error.infrastructure
    message = str(error)
    for digits in leaked_digits(_hidden_inputs()):
        assert digits not in message, (digits, message)
    assert _leaked_text(channel, _hidden_inputs()) not in message
    assert "hidden test split" in message


def test_a_failure_on_the_preflight_shows_the_traceback(bubblewrap, tmp_path: Path):
    model = build_leaking_model(tmp_path, "error", honest_calls=0)
    public = normal_inputs(3, seed=1)

    with SandboxedModel(model, limits=ATTACK_LIMITS, batch_size=64) as session:
        with pytest.raises(EvaluationError) as caught:
            run_preflight(session, public, n_classes=N_CLASSES)

    assert caught.value.code == "model_raised"
    assert str(caught.value).startswith("Preflight on the first 3 items of the public dev split")
    assert " ".join(leaked_digits(public)[:4]) in str(caught.value)
    assert "RuntimeError" in str(caught.value)
