"""A child that lies about attacks and saliency is not believed.

As in ``test_untrusted_child.py``, a forged program takes the place of ``child.py`` in the real
sandbox and speaks the protocol itself: it names exception types built from the hidden inputs,
writes saliency maps no gradient can give, or sends a flag of the wrong type.
"""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path

import numpy as np
import pytest

from evaluation.errors import MalformedOutputError, ProtocolViolationError
from evaluation.sandbox import SandboxedModel, launch, process
from tests.security.models import N_CLASSES, normal_inputs
from tests.security.support import ATTACK_LIMITS
from tests.security.test_untrusted_child import PRELUDE

READY = 'send(json.dumps({"op": "ready", "parameter_count": 1, "max_rss_bytes": 1000}))\n'

BEHAVIOURS = {
    # Spells the first input values into the exception's type name.
    "exception_name_carries_inputs": """
for line in requests:
    request = json.loads(line)
    digits = "_".join(str(int(v * 1000)) for v in inputs_of(request).reshape(-1)[:3])
    send(json.dumps({"op": "no_gradient", "reason": "raised", "exception": "Leak_" + digits,
                     "traceback": ["Leak_" + digits]}))
""",
    # Absolute gradients cannot be negative.
    "negative_saliency": """
for line in requests:
    request = json.loads(line)
    rows = len(inputs_of(request))
    np.save(args.output_file, -np.ones((rows, 64), dtype=np.float32))
    send(json.dumps({"op": "explained", "max_rss_bytes": 1000}))
""",
    "flag_is_a_number": """
for line in requests:
    request = json.loads(line)
    write_logits(len(inputs_of(request)))
    send(json.dumps({"op": "attacked", "zero_gradients": 0, "max_rss_bytes": 1000}))
""",
}


@pytest.fixture
def forged_child(monkeypatch, tmp_path: Path):
    def install(behaviour: str) -> None:
        program = tmp_path / "forged_child.py"
        program.write_text(PRELUDE.format(n_classes=N_CLASSES) + READY + textwrap.dedent(BEHAVIOURS[behaviour]))
        monkeypatch.setattr(process, "start_child", functools.partial(launch.start_child, program=program))

    return install


def _attack(model: SandboxedModel, inputs: np.ndarray):
    return model.attack(inputs, n_classes=N_CLASSES, method="fgsm", eps=0.1, low=0.0, high=1.0, seed=0)


def test_an_exception_name_built_from_hidden_inputs_is_not_shown(bubblewrap, forged_child, normal_model):
    forged_child("exception_name_carries_inputs")
    inputs = (0.1 + 0.8 * normal_inputs(3, seed=9)).astype(np.float32)
    leaked = "_".join(str(int(v * 1000)) for v in inputs.reshape(-1)[:3])

    with SandboxedModel(normal_model, limits=ATTACK_LIMITS) as model:
        public = _attack(model, inputs)
        model.begin_hidden_inputs()
        hidden = _attack(model, inputs)
        hidden_maps = model.saliency(inputs, n_classes=N_CLASSES, targets=np.zeros(3, dtype=np.int64))

    assert leaked in public.reason  # the channel is real on public inputs
    for reason in (hidden.reason, hidden_maps.reason):
        assert reason == "the model raised an exception while its input gradients were computed"


def test_negative_saliency_maps_are_a_malformed_output(bubblewrap, forged_child, normal_model):
    forged_child("negative_saliency")

    with SandboxedModel(normal_model, limits=ATTACK_LIMITS) as model:
        model.begin_hidden_inputs()
        with pytest.raises(MalformedOutputError) as caught:
            model.saliency(normal_inputs(4), n_classes=N_CLASSES, targets=np.zeros(4, dtype=np.int64))

    assert "-1" not in str(caught.value)


def test_an_attack_flag_of_the_wrong_type_is_a_protocol_violation(bubblewrap, forged_child, normal_model):
    forged_child("flag_is_a_number")

    with SandboxedModel(normal_model, limits=ATTACK_LIMITS) as model:
        with pytest.raises(ProtocolViolationError):
            _attack(model, normal_inputs(4))
