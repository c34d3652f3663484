"""``deploy/compose.yaml`` sets only variables the site reads and runs the commands the README documents.

Docker is not needed: the file is read as YAML and its settings are loaded by a real Django
start-up in a child process.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
# Where the site's processes read their environment: the settings (and the modules that build
# some of them), the web server, the sandbox account.
READERS = [
    ROOT / "touchstone" / "settings.py",
    *sorted((ROOT / "touchstone" / "configuration").glob("*.py")),
    ROOT / "touchstone" / "serve.py",
    ROOT / "evaluation/sandbox/account.py",
]
# Variables Django or Python themselves read.
STANDARD = {"DJANGO_SETTINGS_MODULE", "PYTHONUNBUFFERED", "PATH"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def touchstone_services(compose: dict) -> dict[str, dict]:
    return {
        name: service for name, service in compose["services"].items() if service.get("image") == "touchstone:local"
    }


def variables_read() -> set[str]:
    names = set()
    for path in READERS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(r"(DJANGO|TOUCHSTONE|DATABASE|CELERY)_[A-Z0-9_]+", node.value):
                    names.add(node.value)
    return names


def readme_code() -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", (ROOT / "README.md").read_text()))


def test_every_variable_the_compose_file_sets_is_read_by_the_site_and_documented(compose):
    read, documented = variables_read(), "\n".join(readme_code())
    services = touchstone_services(compose)
    assert {"web", "worker-1", "worker-2"} <= set(services)
    for name, service in services.items():
        for variable in service["environment"]:
            assert variable in read | STANDARD, f"{name} sets {variable}, which the site never reads"
            assert variable in documented, f"{name} sets {variable}, which the README does not document"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    for variable in re.findall(r"\b([A-Z][A-Z0-9_]+)=", dockerfile):
        assert variable in read | STANDARD, f"the Dockerfile sets {variable}, which the site never reads"


def test_the_web_server_and_the_workers_run_the_commands_the_readme_documents(compose):
    documented = readme_code()
    services = touchstone_services(compose)
    assert " ".join(services["web"]["command"]) in documented
    workers = [service for name, service in services.items() if name.startswith("worker-")]
    assert len(workers) == 2
    for worker in workers:
        assert " ".join(worker["command"]) in documented
    assert " ".join(services["beat"]["command"]).startswith("celery -A touchstone beat")
    assert "celery -A touchstone beat" in documented


def test_each_worker_keeps_its_own_cache_and_shares_everything_else(compose):
    services = touchstone_services(compose)
    volumes = [service["volumes"][0].split(":")[0] for service in services.values()]
    assert len(set(volumes)) == len(volumes), "two processes share a data folder, as no two machines would"
    environments = [service["environment"] for service in services.values()]
    assert all(environment == environments[0] for environment in environments)
    for name in ("worker-1", "worker-2"):
        assert "seccomp=unconfined" in services[name]["security_opt"]
    assert "security_opt" not in services["web"]


def test_the_compose_environment_configures_private_storage_in_the_emulator(compose):
    environment = {
        key: value for key, value in touchstone_services(compose)["web"]["environment"].items() if "${" not in value
    }
    environment |= {
        "DJANGO_SECRET_KEY": "k" * 60,
        "TOUCHSTONE_DATA_DIR": str(ROOT / "var" / "compose-check"),
        "PATH": "/usr/bin:/bin",
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, django; from django.conf import settings; django.setup(); "
            "print(json.dumps(settings.STORAGES['private']))",
        ],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "touchstone.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    private = json.loads(completed.stdout.strip().splitlines()[-1])
    assert private["BACKEND"] == "touchstone.storage_backends.PrivateS3Storage"
    assert private["OPTIONS"]["endpoint_url"] == "http://s3:5000"
    assert private["OPTIONS"]["bucket_name"] == "touchstone-private"
