"""The layers one by one: bubblewrap's arguments, the seccomp filter, the cgroups."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from evaluation.sandbox.bwrap import (
    Bind,
    InterpreterView,
    SandboxPaths,
    arguments_fd,
    build_command,
    find_bwrap,
    interpreter_prefixes,
    interpreter_view,
    library_binds,
    sandbox_executable,
    sandbox_options,
)
from evaluation.sandbox.cgroups import RunCgroup, cgroup_status
from evaluation.sandbox.launch import child_environment
from evaluation.sandbox.seccomp import DENIED_SYSCALLS, build_filter_fd, seccomp_available


def _options(tmp_path: Path, seccomp_fd: int | None = 9, **keywords) -> list[str]:
    paths = SandboxPaths(tmp_path / "child.py", tmp_path / "model.pt", tmp_path / "in", tmp_path / "out.npy")
    return sandbox_options(
        paths,
        model_name="model.pt",
        tmp_size_bytes=1024,
        environment={"HOME": "/tmp"},
        seccomp_fd=seccomp_fd,
        **keywords,
    )


def _pairs(command: list[str], flag: str) -> list[tuple[str, str]]:
    return [(command[i + 1], command[i + 2]) for i, word in enumerate(command) if word == flag]


def test_the_options_unshare_everything_and_drop_every_privilege(tmp_path: Path):
    options = _options(tmp_path)

    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in options
    assert options[options.index("--uid") + 1] == "65534"
    assert options[options.index("--gid") + 1] == "65534"
    assert options[options.index("--cap-drop") + 1] == "ALL"
    assert options[options.index("--seccomp") + 1] == "9"
    assert "--share-net" not in options
    # --dev would make bubblewrap nest a second user namespace (for devpts), hiding the host
    # uid from /proc/self/uid_map inside.
    assert "--dev" not in options


def test_the_options_bind_only_libraries_the_interpreter_the_child_the_model_and_the_io(
    tmp_path: Path,
):
    options = _options(tmp_path)
    read_only = {target: source for source, target in _pairs(options, "--ro-bind")}
    writable = _pairs(options, "--bind")

    assert writable == [(str(tmp_path / "out.npy"), "/sandbox/io/out.npy")]
    assert read_only["/sandbox/child.py"] == str(tmp_path / "child.py")
    assert read_only["/sandbox/model.pt"] == str(tmp_path / "model.pt")
    assert read_only["/sandbox/io/in"] == str(tmp_path / "in")
    for prefix in interpreter_prefixes():
        assert read_only[str(prefix)] == str(prefix)
    interpreter = {bind.target for bind in interpreter_view().binds}
    libraries = {bind.target for bind in library_binds()}
    assert set(read_only) == interpreter | libraries | {"/sandbox/child.py", "/sandbox/model.pt", "/sandbox/io/in"}
    for forbidden in (
        "/usr",
        "/usr/bin",
        "/usr/local",
        "/usr/local/bin",
        "/usr/share",
        "/sys",
        "/etc",
        "/etc/passwd",
        "/work",
        "/root",
        "/home",
    ):
        assert forbidden not in read_only
    assert "/etc/ld.so.cache" in read_only


def test_the_library_binds_are_the_shared_library_folders_not_all_of_usr():
    sources = {bind.source for bind in library_binds()}

    assert Path("/etc/ld.so.cache") in sources
    for source in sources:
        assert source.parts[:2] in (("/", "usr"), ("/", "lib"), ("/", "lib64"), ("/", "etc"))
        assert source not in (Path("/usr"), Path("/etc"))
        assert not any(
            source.is_relative_to(folder) for folder in ("/usr/bin", "/usr/sbin", "/usr/local", "/usr/share")
        )
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch and Path("/usr/lib", multiarch).is_dir():
        # Debian's multiarch folder, not the rest of /usr/lib (apt, postgresql, chromium...).
        assert Path("/usr/lib") not in sources and Path("/usr/lib", multiarch) in sources


def test_interpreter_folders_can_be_bound_from_mount_points_the_account_reaches(
    tmp_path: Path,
):
    prefix = Path("/root/.pyenv/versions/3.11.7")
    view = InterpreterView(binds=(Bind(prefix, str(prefix)),))
    point = tmp_path / "view-0"

    options = _options(tmp_path, interpreter=view, sources={prefix: point})

    assert (str(point), str(prefix)) in _pairs(options, "--ro-bind")
    assert str(prefix) not in [source for source, _ in _pairs(options, "--ro-bind")]


def test_proc_is_the_sandbox_s_own_and_read_only_and_dev_holds_five_devices(tmp_path: Path):
    options = _options(tmp_path)

    proc = options.index("--proc")
    assert options[proc + 1] == "/proc"
    remounts = [options[i + 1] for i, word in enumerate(options) if word == "--remount-ro"]
    assert "/proc" in remounts and "/dev" in remounts and remounts[-1] == "/"
    assert [target for _, target in _pairs(options, "--dev-bind")] == [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
    ]


def test_tmp_is_mounted_before_the_interpreter_and_the_root_is_made_read_only_last(
    tmp_path: Path,
):
    options = _options(tmp_path)
    tmpfs = options.index("/tmp") - 1

    assert options[tmpfs] == "--tmpfs"
    assert options[tmpfs - 2 : tmpfs] == ["--size", "1024"]
    for prefix in interpreter_prefixes():
        assert tmpfs < options.index(str(prefix))
    mounts = [
        i
        for i, word in enumerate(options)
        if word in ("--ro-bind", "--bind", "--tmpfs", "--proc", "--dev-bind", "--symlink")
    ]
    remount_root = max(i for i, word in enumerate(options) if word == "--remount-ro" and options[i + 1] == "/")
    assert remount_root > max(mounts)


def test_the_command_line_carries_no_host_path_but_the_interpreter(tmp_path: Path):
    options = _options(tmp_path)
    fd = arguments_fd(options)
    try:
        stored = os.read(fd, 1 << 20)
    finally:
        os.close(fd)

    command = build_command("/usr/bin/bwrap", arguments=fd, child_arguments=["--threads", "2"])

    assert stored.split(b"\0")[:-1] == [option.encode() for option in options]
    assert command[:4] == ["/usr/bin/bwrap", "--args", str(fd), "--"]
    assert command[4:] == [sandbox_executable(), "-I", "-B", "/sandbox/child.py", "--threads", "2"]
    assert not any(str(tmp_path) in word for word in command)


def test_the_sandbox_executable_keeps_the_name_a_virtual_environment_is_found_by():
    executable = Path(sandbox_executable())

    assert executable.name == Path(sys.executable).name
    assert os.path.samefile(executable, sys.executable)


def test_the_child_environment_holds_only_thread_counts_and_harmless_defaults():
    environment = child_environment(3)

    assert environment["OMP_NUM_THREADS"] == environment["MKL_NUM_THREADS"] == "3"
    assert environment["HOME"] == "/tmp"
    assert not any(key.startswith(("TOUCHSTONE", "DJANGO", "DATABASE", "AWS")) for key in environment)


# Run by a process under the filter: each named call is made with zero arguments and its
# errno is printed. With zero arguments the calls that the filter lets through fail with EFAULT,
# EINVAL and the like, so only the filter answers EPERM. Clone with CLONE_NEWUSER and clone3
# come last.
_SYSCALL_PROBE = """
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def attempt(number, *arguments):
    ctypes.set_errno(0)
    result = libc.syscall(number, *arguments)
    return ctypes.get_errno() if result == -1 else 0
numbers = json.loads(sys.argv[1])
special = ("getpid", "clone", "clone3")
found = {name: attempt(number, 0, 0, 0, 0, 0, 0) for name, number in numbers.items()
         if name not in special}
found["getpid"] = attempt(numbers["getpid"])
def spawn(number, *arguments):
    # Where the call is allowed it creates a process, which must leave at once.
    ctypes.set_errno(0)
    result = libc.syscall(number, *arguments)
    if result == 0:
        os._exit(0)
    if result > 0:
        os.waitpid(result, 0)
        return 0
    return ctypes.get_errno()
if "clone" in numbers:
    found["clone_newuser"] = spawn(numbers["clone"], 0x10000000 | 17, 0, 0, 0, 0)
found["clone3"] = attempt(numbers["clone3"], 0, 0)
print(json.dumps(found))
"""

_MUST_BE_DENIED = (
    "socket",
    "connect",
    "bind",
    "listen",
    "ptrace",
    "mount",
    "umount2",
    "unshare",
    "setns",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "process_vm_readv",
    "process_vm_writev",
    "kexec_load",
    "init_module",
    "finit_module",
    "pivot_root",
    "chroot",
    "io_uring_setup",
    "userfaultfd",
)


def _syscalls_under(seccomp_fd: int | None, names: tuple[str, ...]) -> dict[str, int]:
    import pyseccomp  # optional: seccomp_available() says whether it is installed

    numbers = {name: pyseccomp.resolve_syscall(pyseccomp.system_arch(), name) for name in (*names, "getpid", "clone3")}
    filter_options = ["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []
    command = [
        find_bwrap(),
        "--unshare-all",
        "--die-with-parent",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        *filter_options,
        "--",
        sys.executable,
        "-I",
        "-c",
        _SYSCALL_PROBE,
        json.dumps(numbers),
    ]
    passed = (seccomp_fd,) if seccomp_fd is not None else ()
    completed = subprocess.run(command, pass_fds=passed, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_the_seccomp_filter_denies_networking_tracing_and_namespaces_in_a_real_process():
    if find_bwrap() is None or not seccomp_available():
        pytest.fail(
            "bubblewrap and pyseccomp are needed to load the filter (apt-get install "
            "bubblewrap; requirements.txt installs pyseccomp)"
        )
    fd = build_filter_fd()
    assert fd is not None
    try:
        filtered = _syscalls_under(fd, (*_MUST_BE_DENIED, "clone"))
    finally:
        os.close(fd)
    # Only harmless calls without the filter: ptrace and the rest would really act.
    unfiltered = _syscalls_under(None, ("socket",))

    denied = {name for name, error in filtered.items() if error == errno.EPERM}
    missing = {*_MUST_BE_DENIED, "clone_newuser"} - denied
    assert not missing, f"the filter let these through: {sorted(missing)}"
    # ENOSYS, not EPERM: glibc then falls back to clone(), whose flags the filter can read.
    assert filtered["clone3"] == errno.ENOSYS
    assert filtered["getpid"] == 0
    # The same process without the filter is not refused: EPERM above was the filter's answer.
    assert unfiltered["socket"] != errno.EPERM and unfiltered["clone3"] != errno.ENOSYS


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


def test_a_run_cgroup_caps_memory_and_pids_records_the_peak_of_its_process_and_is_removed():
    if os.geteuid() != 0 or not any(cgroup_status().values()):
        pytest.skip("no writable cgroup hierarchy here (needs root or delegation)")
    run = RunCgroup.create(memory_bytes=512 * 1024**2, pids=17)
    allocated = 96 * 1024**2
    try:
        assert run.layers
        for controller, folder in run.directories.items():
            assert folder.is_dir()
            if controller == "pids":
                assert (folder / "pids.max").read_text().strip() == "17"
            elif run.versions[controller] == "v1":
                assert int((folder / "memory.limit_in_bytes").read_text()) == 512 * 1024**2
        assert run.pids_in_use() == []
        # A process in the cgroup writes every page of 96 MiB: the recorded peak must count
        # them, or the cost the site publishes would be made up.
        run.open_for_attach()
        try:
            child = subprocess.run(
                [sys.executable, "-c", f"block = b'x' * {allocated}; print(len(block))"],
                preexec_fn=run.attach_self,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            run.close_attach_fds()
        assert child.returncode == 0, child.stderr
        if "memory" in run.directories:
            peak = run.peak_memory_bytes()
            assert peak is not None and allocated <= peak < 512 * 1024**2
        assert run.pids_in_use() == []
        assert run.oom_killed() is False
    finally:
        folders = list(run.directories.values())
        run.remove()
    assert not any(folder.exists() for folder in folders)
