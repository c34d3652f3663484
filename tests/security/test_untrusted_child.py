"""The parent treats the child as an adversary: forged protocol messages are refused.

A model that runs arbitrary Python in the child speaks the child's protocol itself. These tests
put a forged child program in place of ``child.py`` (bound into the real sandbox the same way)
and check that nothing it says is believed beyond what the protocol allows: no fake
"environment" failure booked as the site's fault, no NaN or absurd number kept, no timing list
carrying data, no output-file header echoed into a message about hidden inputs.
"""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path

import numpy as np
import pytest

from evaluation.errors import (
    EvaluationError,
    MalformedOutputError,
    ModelLoadError,
    ProtocolViolationError,
)
from evaluation.sandbox import SandboxedModel, launch, process
from tests.security.models import N_CLASSES, normal_inputs
from tests.security.support import ATTACK_LIMITS

PRELUDE = """
import argparse, json, os, sys, time
import numpy as np

parser = argparse.ArgumentParser()
for name in ("--control-in", "--control-out", "--model", "--format", "--input-dir", "--output-file", "--threads"):
    parser.add_argument(name)
args = parser.parse_args()
requests = os.fdopen(int(args.control_in), "rb")
replies = os.fdopen(int(args.control_out), "wb")

def send(text):
    replies.write(text.encode() + b"\\n")
    replies.flush()

def inputs_of(request):
    return np.load(os.path.join(args.input_dir, request["input"]), allow_pickle=False)

def write_logits(rows):
    np.save(args.output_file, np.zeros((rows, {n_classes}), dtype=np.float32))

send('{{"op": "opening"}}')
"""

BEHAVIOURS = {
    # Claims the site's environment broke, after it opened the model.
    "fake_environment": """
send(json.dumps({"op": "error", "kind": "environment", "exception": "ImportError",
                 "traceback": ["ImportError: libtorch_cpu.so: cannot open shared object file"]}))
""",
    # A NaN where a count belongs: storing it would fail later, outside the sandbox.
    "nan_in_ready": """
send('{"op": "ready", "parameter_count": NaN, "max_rss_bytes": 1000}')
for line in requests:
    pass
""",
    "absurd_parameter_count": """
send(json.dumps({"op": "ready", "parameter_count": 10**30, "max_rss_bytes": 1000}))
for line in requests:
    pass
""",
    # Writes a line that looks like bubblewrap's own error, then dies while "loading".
    "fake_bubblewrap": """
sys.stderr.write("bwrap: Creating new namespace failed: Operation not permitted\\n")
sys.stderr.flush()
sys.exit(1)
""",
    # Smuggles the inputs out as per-batch timings.
    "timings_carry_inputs": """
send(json.dumps({"op": "ready", "parameter_count": 1, "max_rss_bytes": 1000}))
for line in requests:
    request = json.loads(line)
    values = inputs_of(request).reshape(-1)[:500].tolist()
    write_logits(len(inputs_of(request)))
    send(json.dumps({"op": "done", "batch_seconds": values, "max_rss_bytes": 1000}))
""",
    "timings_longer_than_the_request": """
send(json.dumps({"op": "ready", "parameter_count": 1, "max_rss_bytes": 1000}))
for line in requests:
    request = json.loads(line)
    write_logits(len(inputs_of(request)))
    send(json.dumps({"op": "done", "batch_seconds": [3600.0], "max_rss_bytes": 1000}))
""",
    # Writes the first input values into the shape in its output file's header.
    "header_carries_inputs": """
send(json.dumps({"op": "ready", "parameter_count": 1, "max_rss_bytes": 1000}))
for line in requests:
    request = json.loads(line)
    values = ", ".join(str(int(v * 1000)) for v in inputs_of(request).reshape(-1)[:4])
    with open(args.output_file, "wb") as handle:
        handle.write(b"\\x93NUMPY\\x01\\x00")
        header = ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + values + "), }").ljust(117) + "\\n"
        handle.write(len(header).to_bytes(2, "little") + header.encode())
    send(json.dumps({"op": "done", "batch_seconds": [0.0], "max_rss_bytes": 1000}))
""",
}


@pytest.fixture
def forged_child(monkeypatch, tmp_path: Path):
    """Installs the forged child for a behaviour; returns a normal model file to 'load'."""

    def install(behaviour: str) -> Path:
        program = tmp_path / "forged_child.py"
        program.write_text(PRELUDE.format(n_classes=N_CLASSES) + textwrap.dedent(BEHAVIOURS[behaviour]))
        monkeypatch.setattr(process, "start_child", functools.partial(launch.start_child, program=program))
        return program

    return install


def _predict(normal_model: Path, inputs: np.ndarray, *, hide: bool) -> None:
    with SandboxedModel(normal_model, limits=ATTACK_LIMITS, batch_size=64) as model:
        if hide:
            model.begin_hidden_inputs()
        model.predict(inputs, n_classes=N_CLASSES)


def _start_and_predict(normal_model: Path, inputs: np.ndarray, *, hide: bool = False) -> EvaluationError:
    with pytest.raises(EvaluationError) as caught:
        _predict(normal_model, inputs, hide=hide)
    return caught.value


def test_a_fake_environment_failure_after_opening_is_a_protocol_violation(bubblewrap, forged_child, normal_model):
    forged_child("fake_environment")

    error = _start_and_predict(normal_model, normal_inputs(2))

    assert isinstance(error, ProtocolViolationError)
    assert not error.infrastructure
    assert "environment" in str(error)


def test_a_fake_bubblewrap_line_after_opening_counts_against_the_researcher(bubblewrap, forged_child, normal_model):
    forged_child("fake_bubblewrap")

    error = _start_and_predict(normal_model, normal_inputs(2))

    assert isinstance(error, ModelLoadError)
    assert not error.infrastructure


@pytest.mark.parametrize("behaviour", ["nan_in_ready", "absurd_parameter_count"])
def test_a_number_out_of_range_is_a_protocol_violation(bubblewrap, forged_child, normal_model, behaviour):
    forged_child(behaviour)

    error = _start_and_predict(normal_model, normal_inputs(2))

    assert isinstance(error, ProtocolViolationError)
    assert not error.infrastructure


@pytest.mark.parametrize("behaviour", ["timings_carry_inputs", "timings_longer_than_the_request"])
def test_timings_that_cannot_be_true_are_a_protocol_violation(bubblewrap, forged_child, normal_model, behaviour):
    forged_child(behaviour)
    # 3 items in one batch: an honest child reports exactly one duration.
    error = _start_and_predict(normal_model, normal_inputs(3))

    assert isinstance(error, ProtocolViolationError)


def test_a_forged_output_header_is_echoed_on_public_inputs_only(bubblewrap, forged_child, normal_model):
    forged_child("header_carries_inputs")
    inputs = (0.1 + 0.8 * normal_inputs(3, seed=5)).astype(np.float32)
    leaked = ", ".join(str(int(v * 1000)) for v in inputs.reshape(-1)[:4])

    shown = _start_and_predict(normal_model, inputs)
    hidden = _start_and_predict(normal_model, inputs, hide=True)

    # The attack is real: on public inputs the header's text reaches the message.
    assert isinstance(shown, MalformedOutputError) and leaked in str(shown)
    assert isinstance(hidden, MalformedOutputError)
    for value in leaked.split(", "):
        assert value not in str(hidden)
