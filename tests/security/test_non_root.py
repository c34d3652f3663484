"""The sandbox run by a non-root worker, as production should run it (see SECURITY.md).

The worker here is the user "nobody" with a virtual environment it can read: made from
Debian's ``/usr/bin/python3``, with this interpreter's site-packages (numpy, torch, pyseccomp)
hard-linked into it, since the interpreter the suite runs under lives in root's home, which
other users cannot read. A non-root worker gets every layer but the cgroups (it may not write
them without delegation), and the sandbox still keeps a host file it could read out of reach.

The suite itself runs as root (``make test``, CI), where bubblewrap is started from the sandbox
account; so that the attacks are also tried against a sandbox started by a non-root worker,
every module of this folder that runs the real sandbox is run again here as "nobody".
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np
import pytest

from evaluation.sandbox.bwrap import find_bwrap
from tests.security import models

NOBODY = 65534
ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")

SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from evaluation.errors import EvaluationError
from evaluation.sandbox import SandboxedModel, SandboxLimits

limits = SandboxLimits(memory_bytes=1536 * 1024**2, wall_seconds=60.0)
inputs = np.load(sys.argv[1])
result = {}
with SandboxedModel(Path(sys.argv[2]), limits=limits) as model:
    result["logits"] = model.predict(inputs, n_classes=10).tolist()
    result["layers"] = list(model.report().layers)
try:
    with SandboxedModel(Path(sys.argv[3]), limits=limits) as model:
        result["leaked"] = model.predict(inputs[:2], n_classes=10).tolist()
except EvaluationError as error:
    result["reading_error"] = [type(error).__name__, str(error)]
print(json.dumps(result))
"""


def _run_as_nobody(
    command: list[str], *, timeout: float = 120, cwd: Path = Path("/"), **kwargs
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        **kwargs,
    )


def sandbox_test_modules() -> list[Path]:
    """The modules of this folder with a test that runs the real sandbox (``bubblewrap``)."""
    modules = []
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        if path == Path(__file__):
            continue
        tree = ast.parse(path.read_text())
        if any(
            isinstance(node, ast.FunctionDef)
            and node.name.startswith("test_")
            and any(argument.arg == "bubblewrap" for argument in node.args.args)
            for node in ast.walk(tree)
        ):
            modules.append(path)
    return modules


@pytest.fixture(scope="module")
def nobody_environment():
    """A folder "nobody" can read, holding a venv with numpy and torch; skips if impossible."""
    if os.geteuid() != 0:
        pytest.skip("not root: this suite already runs the sandbox as a non-root user")
    if find_bwrap() is None:
        pytest.skip("bubblewrap missing (the other sandbox tests fail for that)")
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"{SYSTEM_PYTHON} is missing: no interpreter readable by 'nobody'")
    version = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if version != str(tuple(sys.version_info[:2])):
        pytest.skip(f"{SYSTEM_PYTHON} is Python {version}; torch here is built for {tuple(sys.version_info[:2])}")
    probe = _run_as_nobody([find_bwrap(), "--unshare-all", "--ro-bind", "/", "/", "true"])
    if probe.returncode != 0:
        pytest.skip(f"this kernel does not let a non-root user create the sandbox's namespaces: {probe.stderr.strip()}")
    folder = Path(tempfile.mkdtemp(prefix="touchstone-nobody-"))
    try:
        os.chmod(folder, 0o755)
        venv = folder / "venv"
        subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
        target = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        source = Path(sysconfig.get_paths()["purelib"])
        # Hard links share the files' (world-readable) inodes without copying 2 GB.
        linked = subprocess.run(["cp", "-al", f"{source}/.", str(target)], capture_output=True, text=True)
        if linked.returncode != 0:
            pytest.skip(f"cannot hard-link site-packages into a readable venv: {linked.stderr}")
        # Finding torch is enough here; importing it would cost seconds.
        check = "import evaluation, importlib.util; assert importlib.util.find_spec('torch')"
        imports = _run_as_nobody(
            [str(venv / "bin" / "python"), "-c", check], env={"PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        )
        if imports.returncode != 0:
            pytest.skip(f"'nobody' cannot import the project or torch: {imports.stderr[-500:]}")
        yield folder, venv / "bin" / "python"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_non_root_worker_runs_the_sandbox_and_keeps_a_readable_host_file_out_of_reach(bubblewrap, nobody_environment):
    folder, python = nobody_environment
    secret = folder / "hidden-test-split.npz"
    secret.write_bytes(b"CANARY-readable-by-nobody")
    os.chmod(secret, 0o644)  # "nobody" could read it outside the sandbox
    normal = models.build_normal_model(folder / "normal")
    reading = models.build_reading_model(folder / "reading", secret)
    inputs = models.normal_inputs(64, seed=3)
    np.save(folder / "inputs.npy", inputs)
    for path in folder.rglob("*"):
        if "venv" not in path.parts:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)

    completed = _run_as_nobody(
        [str(python), "-c", SCRIPT, str(folder / "inputs.npy"), str(normal), str(reading)],
        env={"PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
    )

    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result["layers"] == ["bubblewrap", "seccomp", "rlimits"]
    np.testing.assert_allclose(
        np.array(result["logits"], dtype=np.float32), models.reference_logits(inputs), rtol=1e-5, atol=1e-5
    )
    assert "leaked" not in result
    error_class, message = result["reading_error"]
    assert error_class == "ModelRaisedError"
    assert "No such file or directory" in message


def test_the_sandbox_attacks_fail_the_same_way_when_the_worker_is_not_root(bubblewrap, nobody_environment):
    folder, python = nobody_environment
    own = folder / "nobody"
    own.mkdir()
    os.chown(own, NOBODY, NOBODY)
    modules = sandbox_test_modules()
    assert {"test_model_attacks.py", "test_containment.py"} <= {path.name for path in modules}

    completed = _run_as_nobody(
        [
            str(python),
            "-m",
            "pytest",
            *map(str, modules),
            "-m",
            "not services",
            "-q",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(own / "pytest"),
        ],
        env={
            "PYTHONPATH": str(ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOME": str(own),
            "TOUCHSTONE_DATA_DIR": str(own / "data"),
            "PATH": "/usr/bin:/bin",
        },
        cwd=ROOT,
        timeout=600,
    )

    summary = completed.stdout.strip().splitlines()[-1:]
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    assert " passed" in summary[0] and "failed" not in summary[0], summary
