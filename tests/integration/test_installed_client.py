"""The client installed into a fresh virtual environment runs outside the clone and talks to a live site."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import evaluation

ROOT = Path(__file__).resolve().parents[2]


def _environment() -> dict[str, str]:
    # Nothing may lead the installed command back to the clone.
    drop = ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "TOUCHSTONE_SERVER", "TOUCHSTONE_TOKEN")
    return {key: value for key, value in os.environ.items() if key not in drop}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtual environment (reusing this interpreter's packages, torch among them) with the project installed."""
    folder = tmp_path_factory.mktemp("installed")
    # A copy of what the distribution is built from, so the build writes nothing into the clone.
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "evaluation", source / "evaluation", ignore=shutil.ignore_patterns("__pycache__"))
    venv = folder / "venv"
    # Without its own pip and setuptools, the environment builds with this interpreter's (pip runs
    # from the system's site-packages but installs into the environment).
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True, timeout=60
    )
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            str(source),
        ],
        check=True,
        timeout=120,
        cwd=folder,
        env=_environment(),
    )
    return venv


def run_installed(venv: Path, *arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "touchstone"), *arguments],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.services
def test_the_installed_command_lists_its_commands(installed, tmp_path):
    completed = run_installed(installed, "--help", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: touchstone")
    for command in ("fetch", "check", "evaluate", "submit"):
        assert command in completed.stdout
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import evaluation; print(evaluation.__file__)"],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed)


@pytest.mark.services
def test_the_distribution_ships_the_library_and_nothing_of_the_site(installed, tmp_path):
    listed = subprocess.run(
        [str(installed / "bin" / "python"), "-c",
         "import importlib.metadata as m; print('\\n'.join(str(f) for f in m.files('touchstone-client')))"],
        cwd=tmp_path, env=_environment(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    top = {Path(name).parts[0] for name in listed.stdout.split()}
    assert "evaluation" in top and "touchstone" not in top and "catalog" not in top and "tests" not in top
    assert any(name.endswith("evaluation/sandbox/child.py") for name in listed.stdout.split())


@pytest.mark.services
def test_the_site_in_the_clone_still_runs_its_own_code_beside_the_installed_client(installed):
    # The site's processes start from the clone's root, whose packages come before the installed copy.
    completed = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import evaluation; print(evaluation.__file__)"],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(completed.stdout.strip()) == ROOT / "evaluation" / "__init__.py"
    checked = subprocess.run(
        [str(installed / "bin" / "python"), "manage.py", "check"],
        cwd=ROOT,
        env={**_environment(), "TOUCHSTONE_DATA_DIR": str(installed.parent / "data")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.services
def test_the_installed_command_fetches_a_version_from_a_live_site(installed, live_server, version, tmp_path):
    completed = run_installed(
        installed, "fetch", "--server", live_server.url, "--benchmark", "digits/1.0.0", "data", cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr
    assert f"server: {live_server.url} (Touchstone {evaluation.__version__}" in completed.stderr
    folder = tmp_path / "data" / "digits" / "1.0.0"
    assert sorted(p.name for p in folder.iterdir()) == ["benchmark.toml", "dev.npz", "version.json"]
    assert "(verified)" in completed.stdout
    again = run_installed(
        installed, "fetch", "--server", live_server.url, "--benchmark", "digits/1.0.0", "data", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert "nothing downloaded" in again.stdout
