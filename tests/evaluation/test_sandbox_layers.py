"""The layers one by one: the bubblewrap command line, the seccomp filter, the cgroups."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from evaluation.sandbox.bwrap import SandboxPaths, build_command, interpreter_prefixes
from evaluation.sandbox.cgroups import RunCgroup, cgroup_status
from evaluation.sandbox.launch import child_environment
from evaluation.sandbox.seccomp import DENIED_SYSCALLS, build_filter_fd, seccomp_available


def _command(tmp_path: Path, seccomp_fd: int | None = 9) -> list[str]:
    paths = SandboxPaths(tmp_path / "child.py", tmp_path / "model.pt", tmp_path / "in",
                         tmp_path / "out.npy")
    return build_command("/usr/bin/bwrap", paths, model_name="model.pt", tmp_size_bytes=1024,
                         environment={"HOME": "/tmp"}, seccomp_fd=seccomp_fd,
                         child_arguments=["--threads", "2"])


def _pairs(command: list[str], flag: str) -> list[tuple[str, str]]:
    return [(command[i + 1], command[i + 2]) for i, word in enumerate(command) if word == flag]


def test_the_command_unshares_everything_and_drops_every_privilege(tmp_path: Path):
    command = _command(tmp_path)

    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in command
    assert command[command.index("--uid") + 1] == "65534"
    assert command[command.index("--gid") + 1] == "65534"
    assert command[command.index("--cap-drop") + 1] == "ALL"
    assert command[command.index("--seccomp") + 1] == "9"
    assert "--share-net" not in command


def test_the_command_binds_only_the_interpreter_the_child_the_model_and_the_io(tmp_path: Path):
    command = _command(tmp_path)
    read_only = dict((target, source) for source, target in _pairs(command, "--ro-bind"))
    writable = _pairs(command, "--bind")

    assert writable == [(str(tmp_path / "out.npy"), "/sandbox/io/out.npy")]
    assert read_only["/sandbox/child.py"] == str(tmp_path / "child.py")
    assert read_only["/sandbox/model.pt"] == str(tmp_path / "model.pt")
    assert read_only["/sandbox/io/in"] == str(tmp_path / "in")
    assert read_only["/usr"] == "/usr"
    for prefix in interpreter_prefixes():
        assert read_only[str(prefix)] == str(prefix)
    allowed = {"/usr", "/etc/ld.so.cache", *map(str, interpreter_prefixes()),
               "/sandbox/child.py", "/sandbox/model.pt", "/sandbox/io/in"}
    assert set(read_only) <= allowed | {"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"}
    assert "/etc/passwd" not in command and "/work" not in command


def test_tmp_is_mounted_before_the_interpreter_and_the_root_is_made_read_only_last(
    tmp_path: Path,
):
    command = _command(tmp_path)
    tmpfs = command.index("--tmpfs")

    assert command[tmpfs + 1] == "/tmp"
    assert command[tmpfs - 2 : tmpfs] == ["--size", "1024"]
    for prefix in interpreter_prefixes():
        assert tmpfs < command.index(str(prefix))
    separator = command.index("--")
    mounts = [i for i, word in enumerate(command[:separator])
              if word in ("--ro-bind", "--bind", "--tmpfs", "--proc", "--dev", "--symlink")]
    remount_root = max(i for i, word in enumerate(command) if word == "--remount-ro"
                       and command[i + 1] == "/")
    assert remount_root > max(mounts)
    assert command[separator + 1 :] == [sys.executable, "-I", "-B", "/sandbox/child.py",
                                        "--threads", "2"]


def test_the_child_environment_holds_only_thread_counts_and_harmless_defaults():
    environment = child_environment(3)

    assert environment["OMP_NUM_THREADS"] == environment["MKL_NUM_THREADS"] == "3"
    assert environment["HOME"] == "/tmp"
    assert not any(key.startswith(("TOUCHSTONE", "DJANGO", "DATABASE", "AWS")) for key in environment)


def test_the_seccomp_filter_denies_networking_tracing_and_namespaces():
    for name in ("socket", "connect", "bind", "listen", "accept", "ptrace", "mount", "umount2",
                 "unshare", "setns", "bpf", "keyctl", "add_key", "request_key",
                 "perf_event_open", "process_vm_readv", "process_vm_writev", "kexec_load",
                 "init_module", "finit_module", "pivot_root", "chroot", "io_uring_setup"):
        assert name in DENIED_SYSCALLS


def test_the_seccomp_filter_is_exported_as_bpf_into_a_readable_fd():
    if not seccomp_available():
        pytest.fail("pyseccomp/libseccomp are missing (requirements.txt installs pyseccomp)")
    fd = build_filter_fd()
    try:
        assert fd is not None
        program = os.read(fd, 1 << 20)
    finally:
        os.close(fd)
    # A BPF program is a sequence of 8-byte instructions.
    assert len(program) > 8 * len(DENIED_SYSCALLS) and len(program) % 8 == 0


def test_a_run_cgroup_caps_memory_and_pids_and_is_removed():
    if os.geteuid() != 0 or not any(cgroup_status().values()):
        pytest.skip("no writable cgroup hierarchy here (needs root or delegation)")
    run = RunCgroup.create(memory_bytes=512 * 1024**2, pids=17)
    try:
        assert run.layers
        for controller, folder in run.directories.items():
            assert folder.is_dir()
            if controller == "pids":
                assert (folder / "pids.max").read_text().strip() == "17"
            elif run.versions[controller] == "v1":
                assert int((folder / "memory.limit_in_bytes").read_text()) == 512 * 1024**2
        assert run.pids_in_use() == []
        assert run.peak_memory_bytes() in (0, None) or run.peak_memory_bytes() >= 0
        assert run.oom_killed() is False
    finally:
        folders = list(run.directories.values())
        run.remove()
    assert not any(folder.exists() for folder in folders)
