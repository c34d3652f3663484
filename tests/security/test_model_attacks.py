"""Real malicious models against the real sandbox.

Each attack is built as a model file, passes the upload checks (it is a well-formed archive),
runs in a SandboxedModel, and must fail with the right error and a message that names the
limit. Afterwards no canary on the host was read or written, nothing of the run is left over,
and a normal model still scores exactly right in a fresh sandbox.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from evaluation.archive import inspect_model_file
from evaluation.errors import (
    DeadlineExceededError,
    EvaluationError,
    MalformedOutputError,
    ModelLoadError,
    ModelRaisedError,
    OutOfMemoryError,
    SandboxViolationError,
)
from evaluation.sandbox import SandboxedModel, SandboxLimits
from evaluation.sandbox.cgroups import CGROUP_ROOT, PARENT_NAME
from tests.security import archives, models
from tests.security.support import (
    ATTACK_LIMITS,
    Canaries,
    assert_normal_model_scores,
)

UPLOAD_CAP = 64 * 1024**2


@dataclass(frozen=True)
class Attack:
    """One malicious model and how the sandbox must answer it."""

    name: str
    build: Callable[[Path, Canaries], Path]
    error: type[EvaluationError]
    words: tuple[str, ...]
    limits: SandboxLimits = ATTACK_LIMITS


def _reading(name: str) -> Callable[[Path, Canaries], Path]:
    return lambda folder, canaries: models.build_reading_model(folder, canaries.files[name])


def _malformed(kind: str) -> Callable[[Path, Canaries], Path]:
    return lambda folder, canaries: models.build_malformed_model(folder, kind)


# Attacks are grouped in families. Every attack runs in its own fresh sandbox; a normal model
# is scored in a fresh sandbox after each family (after every attack would double the suite's
# time, as each sandbox start imports torch, for little: damage left by any one attack would
# persist to the end of its family).
FAMILIES: dict[str, list[Attack]] = {
    "reading host files": [
        Attack(
            "reads the hidden test split",
            _reading("test.npz"),
            ModelRaisedError,
            ("test.npz", "No such file or directory"),
        ),
        Attack(
            "reads the database file",
            _reading("db.sqlite3"),
            ModelRaisedError,
            ("db.sqlite3", "No such file or directory"),
        ),
        Attack(
            "reads the settings module",
            _reading("settings.py"),
            ModelRaisedError,
            ("settings.py", "No such file or directory"),
        ),
        Attack(
            "reads /etc/passwd",
            lambda f, c: models.build_reading_model(f, "/etc/passwd"),
            ModelRaisedError,
            ("/etc/passwd", "No such file or directory"),
        ),
    ],
    "writing files": [
        Attack(
            "creates a file next to the secrets",
            lambda f, c: models.build_writing_model(f, c.write_target),
            ModelRaisedError,
            ("written-by-model", "No such file or directory"),
        ),
        Attack(
            "overwrites the hidden test split",
            lambda f, c: models.build_writing_model(f, c.files["test.npz"]),
            ModelRaisedError,
            ("test.npz", "No such file or directory"),
        ),
        Attack(
            "overwrites the evaluator's own code",
            lambda f, c: models.build_writing_model(f, "/sandbox/child.py"),
            ModelRaisedError,
            # Refused as read-only (non-root worker) or, first, by the file's owner (root).
            ("child.py", "in read-write mode"),
        ),
        Attack(
            "writes a 2 GiB file",
            lambda f, c: models.build_huge_file_model(f),
            SandboxViolationError,
            ("file larger than the sandbox allows", "64 MiB"),
        ),
    ],
    "exhausting memory": [
        Attack(
            "allocates 8 GiB at once",
            lambda f, c: models.build_memory_hog_model(f),
            OutOfMemoryError,
            ("out of memory", "1536 MiB"),
        ),
        Attack(
            "fills memory page by page",
            lambda f, c: models.build_gradual_memory_model(f),
            OutOfMemoryError,
            ("out of memory", "1536 MiB"),
        ),
    ],
    "exhausting time": [
        Attack(
            "loops forever",
            lambda f, c: models.build_endless_loop_model(f),
            DeadlineExceededError,
            ("CPU-time limit", "4 CPU seconds"),
            dataclasses.replace(ATTACK_LIMITS, cpu_seconds=4),
        ),
        Attack(
            "sleeps past the deadline",
            lambda f, c: models.build_sleeping_model(f),
            DeadlineExceededError,
            ("wall-clock deadline", "6 seconds"),
            dataclasses.replace(ATTACK_LIMITS, wall_seconds=6.0),
        ),
    ],
    "failing code": [
        Attack(
            "raises",
            lambda f, c: models.build_raising_model(f),
            ModelRaisedError,
            ("raised an exception", models.RAISED_MESSAGE),
        ),
        Attack(
            "hides a pickle payload in a TorchScript archive",
            lambda f, c: archives.build_pickle_in_torchscript_layout(f, c.write_target),
            ModelLoadError,
            ("could not be loaded",),
        ),
    ],
    "malformed outputs": [
        Attack(
            "returns logits of the wrong shape",
            _malformed("wrong_shape"),
            MalformedOutputError,
            ("shape [256, 13]", "expected float32 logits of shape [256, 10]"),
        ),
        Attack(
            "returns float64 logits",
            _malformed("float64"),
            MalformedOutputError,
            ("a float64 tensor", "expected float32", ".float()"),
        ),
        Attack(
            "returns int64 logits", _malformed("int64"), MalformedOutputError, ("an int64 tensor", "expected float32")
        ),
        Attack("returns NaN", _malformed("nan"), MalformedOutputError, ("non-finite", "NaN in 300 rows")),
        Attack("returns Inf", _malformed("inf"), MalformedOutputError, ("non-finite", "Inf in 300 rows")),
        Attack(
            "returns a gigantic tensor",
            _malformed("gigantic"),
            MalformedOutputError,
            ("shape [262144, 1073741824]", "[256, 10]"),
        ),
        Attack("returns a tuple", _malformed("tuple"), MalformedOutputError, ("a tuple", "single tensor")),
    ],
}


def _leftover_cgroups() -> list[Path]:
    prefix = f"run-{os.getpid()}-"
    found = []
    for controller in ("memory", "pids"):
        parent = CGROUP_ROOT / controller / PARENT_NAME
        if parent.is_dir():
            found += [path for path in parent.iterdir() if path.name.startswith(prefix)]
    return found


def _score(attack: Attack, path: Path, canaries: Canaries) -> None:
    # If the sandbox lets the attack through, the logits are checked for canary contents here,
    # so a leak fails the test with its own message rather than as a missing error.
    with SandboxedModel(path, limits=attack.limits) as model:
        logits = model.predict(models.normal_inputs(300), n_classes=models.N_CLASSES)
        canaries.assert_not_in(logits)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_sandbox_stops_each_attack_and_then_scores_a_normal_model(
    family: str, bubblewrap, canaries: Canaries, normal_model: Path, tmp_path: Path
):
    for attack in FAMILIES[family]:
        path = attack.build(tmp_path / attack.name.replace(" ", "-"), canaries)
        # A malicious model is a well-formed archive: the upload checks cannot stop it.
        assert inspect_model_file(path, max_bytes=UPLOAD_CAP).format == "torchscript"

        with pytest.raises(attack.error) as caught:
            _score(attack, path, canaries)

        message = str(caught.value)
        for word in attack.words:
            assert word in message, f"{attack.name}: {word!r} not in {message!r}"
        canaries.assert_untouched()
        assert _leftover_cgroups() == [], attack.name
    assert_normal_model_scores(normal_model)


def test_a_flooding_model_still_scores_and_its_output_is_cut_to_the_log_cap(bubblewrap, tmp_path: Path):
    path = models.build_flooding_model(tmp_path)
    inputs = models.normal_inputs(300)

    with SandboxedModel(path, limits=ATTACK_LIMITS) as model:
        logits = model.predict(inputs, n_classes=models.N_CLASSES)
        stdout = model._child.channel.stdout

    assert logits.shape == (300, models.N_CLASSES) and not logits.any()
    # Two batches of 200,000 lines: tens of megabytes went by, 16 KiB were kept.
    assert stdout.total_bytes > 20 * 1024**2
    assert len(stdout.text().encode()) <= ATTACK_LIMITS.max_log_bytes
    assert "flooding the log" in stdout.text()


def test_the_attack_models_really_attack_when_run_without_the_sandbox(
    bubblewrap, canaries: Canaries, tmp_path: Path, monkeypatch
):
    # Proof that the reading attack is real: unsandboxed (development mode), the model reads
    # the hidden split and returns its bytes. Only the sandbox stands in the way.
    monkeypatch.setattr("evaluation.sandbox.bwrap.find_bwrap", lambda: None)
    path = models.build_reading_model(tmp_path, canaries.files["test.npz"])

    with SandboxedModel(path, limits=ATTACK_LIMITS, allow_unsandboxed=True) as model:
        logits = model.predict(models.normal_inputs(4), n_classes=models.N_CLASSES)
        layers = model.report().layers

    assert layers[0] == "unsandboxed"
    leaked = bytes(logits[0].astype(np.uint8))
    assert leaked == canaries.contents["test.npz"][:10]
