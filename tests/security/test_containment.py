"""No path to host root: who the sandboxed process is, what its /proc allows and reveals.

A probe (``probe.py``) is started by the worker's own start-up code in place of the child
program (see ``sandbox_probe.py``). It reports its user namespace's id maps, tries to open every
file under ``/proc/sys`` for writing, and reads ``/proc/1/cmdline`` and its mount table. Run as
root (``make test``, CI) the suite checks that the sandbox account, not root, is what the
process is to the host; run as another user (``test_non_root.py``), that it is that user.
"""

from __future__ import annotations

import os
import pwd
import secrets
import stat
from pathlib import Path

import pytest

from evaluation.errors import SandboxUnavailableError
from evaluation.sandbox import SandboxedModel, sandbox_status
from evaluation.sandbox.account import USER_VARIABLE, sandbox_user_name
from tests.security.sandbox_probe import ProbeRun, run_probe
from tests.security.support import ATTACK_LIMITS

PROJECT = Path(__file__).resolve().parents[2]

root_worker_only = pytest.mark.skipif(
    os.geteuid() != 0, reason="only a root worker starts the sandbox from another account"
)


@pytest.fixture
def stored_model(tmp_path: Path) -> Path:
    """A model file kept the way the site keeps uploads: in private storage, under a random name."""
    folder = tmp_path / f"private-{secrets.token_hex(4)}" / "models" / "digits"
    folder.mkdir(parents=True)
    path = folder / f"{secrets.token_hex(12)}.pt"
    path.write_bytes(b"the probe never reads this")
    return path


def _expected_host_ids() -> tuple[int, int]:
    if os.geteuid() == 0:
        account = pwd.getpwnam(sandbox_user_name())
        return account.pw_uid, account.pw_gid
    return os.getuid(), os.getgid()


def test_the_sandboxed_process_maps_to_an_unprivileged_host_uid_never_to_root(bubblewrap, stored_model: Path):
    report = run_probe(stored_model, port=1)

    inside_uid, host_uid, uid_count = report["uid_map"]
    inside_gid, host_gid, gid_count = report["gid_map"]
    assert (inside_uid, uid_count, inside_gid, gid_count) == ("65534", "1", "65534", "1")
    assert int(host_uid) != 0 and int(host_gid) != 0
    # As root, the sandbox account's ids; otherwise the worker's own.
    assert (int(host_uid), int(host_gid)) == _expected_host_ids()


def test_the_status_reports_the_account_and_the_uid_map_the_model_really_sees(bubblewrap, stored_model: Path):
    account = sandbox_status()["account"]

    report = run_probe(stored_model, port=1)

    assert account["uid_map"].split() == report["uid_map"]
    assert (account["uid"], account["gid"]) == _expected_host_ids()
    assert account["dedicated"] is (os.geteuid() == 0)
    assert account["problem"] is None


@root_worker_only
def test_the_status_says_why_no_model_can_run_without_the_sandbox_account(monkeypatch):
    monkeypatch.setenv(USER_VARIABLE, "touchstone-no-such-account")

    account = sandbox_status()["account"]

    assert account["uid"] is None and account["uid_map"] is None
    assert "'touchstone-no-such-account'" in account["problem"]
    assert "useradd --system" in account["problem"]


def test_no_file_under_proc_sys_nor_proc_sysrq_trigger_opens_for_writing(bubblewrap, stored_model: Path):
    report = run_probe(stored_model, port=1)

    sysctl = report["sysctl"]
    assert sysctl["files"] > 100  # the probe really walked the sysctl tree
    assert sysctl["writable"] == []
    assert report["sysrq_trigger"] != "ok"
    proc = [line.split() for line in report["mountinfo"].splitlines() if line.split()[4] == "/proc"]
    assert len(proc) == 1 and proc[0][5].split(",")[0] == "ro"  # the whole /proc is read-only


def test_sys_usr_local_bin_and_the_rest_of_usr_do_not_exist_inside(bubblewrap, stored_model: Path):
    absent = [
        "/sys",
        "/usr/local/bin",
        "/usr/local",
        "/usr/share",
        "/usr/sbin",
        "/bin/sh",
        "/usr/bin/env",
        "/usr/bin/bwrap",
        "/usr/lib/apt",
        "/etc/passwd",
        "/home",
        "/var",
    ]

    report = run_probe(stored_model, port=1, paths=absent)

    assert report["visible"] == dict.fromkeys(absent, False)


def test_proc_shows_no_storage_path_model_name_project_path_or_io_folder_command_line(bubblewrap, stored_model: Path):
    run = ProbeRun(stored_model, port=1, paths=[])
    try:
        scratch = run.handle.scratch
        report = run.report()
    finally:
        run.close()

    command_line = report["pid_1_cmdline"]
    mounts = report["mountinfo"]
    private = stored_model.parents[2]
    for secret in (str(private), private.name, stored_model.name, str(PROJECT)):
        assert secret not in command_line
        assert secret not in mounts
    # The IO folder's name is random and only in the mount table (what bind mounts show).
    assert scratch.name not in command_line
    assert str(os.getpid()) not in scratch.name
    assert "/sandbox/model.pt" in mounts


@root_worker_only
def test_a_root_worker_without_the_sandbox_account_refuses_to_run_models(monkeypatch, normal_model: Path):
    monkeypatch.setenv(USER_VARIABLE, "touchstone-no-such-account")

    with pytest.raises(SandboxUnavailableError) as caught:
        with SandboxedModel(normal_model, limits=ATTACK_LIMITS):
            pass

    message = str(caught.value)
    assert "'touchstone-no-such-account'" in message and "does not exist" in message
    assert "useradd --system" in message
    assert caught.value.infrastructure


@root_worker_only
def test_a_root_worker_refuses_a_sandbox_account_that_is_root(monkeypatch, normal_model: Path):
    monkeypatch.setenv(USER_VARIABLE, "root")

    with pytest.raises(SandboxUnavailableError) as caught:
        with SandboxedModel(normal_model, limits=ATTACK_LIMITS):
            pass

    assert "must be an unprivileged account" in str(caught.value)


@root_worker_only
def test_the_io_folder_lets_the_sandbox_account_write_only_the_output_file(bubblewrap, normal_model: Path):
    account = pwd.getpwnam(sandbox_user_name())
    with SandboxedModel(normal_model, limits=ATTACK_LIMITS) as model:
        scratch = model._child.scratch
        entries = {path.relative_to(scratch).as_posix(): path.lstat() for path in [scratch, *scratch.rglob("*")]}

    writable = set()
    for name, status in entries.items():
        mode = status.st_mode
        if (
            (status.st_uid == account.pw_uid and mode & stat.S_IWUSR)
            or (status.st_gid == account.pw_gid and mode & stat.S_IWGRP)
            or mode & stat.S_IWOTH
        ):
            writable.add(name)
    assert writable == {"out.npy"}
    assert entries["out.npy"].st_uid == account.pw_uid
    assert all(status.st_uid == 0 for name, status in entries.items() if name != "out.npy")


@root_worker_only
def test_a_root_worker_mounts_its_python_for_the_account_without_touching_the_host_mounts(
    bubblewrap, normal_model: Path
):
    with SandboxedModel(normal_model, limits=ATTACK_LIMITS) as model:
        scratch = str(model._child.scratch)
        bubblewrap_mounts = Path(f"/proc/{model._child.process.pid}/mountinfo").read_text()
        host_mounts = Path("/proc/self/mountinfo").read_text()

    # bubblewrap (as the account) sees the interpreter mounted inside the IO folder...
    assert f"{scratch}/view-" in bubblewrap_mounts
    # ...in a mount namespace of its own: the host's mount table never had it.
    assert scratch not in host_mounts
