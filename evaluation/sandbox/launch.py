"""Starting the child: scratch IO folder, pipes, layers, and the process itself.

``ChildHandle`` owns everything one child holds on the host and releases all of it in
``close()``, whatever part of the start-up succeeded, so a failed start leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SandboxUnavailableError
from . import bwrap as bwrap_layer
from .account import PrivilegeDrop, SandboxAccount, prepare_mount_points, sandbox_account
from .cgroups import RunCgroup
from .channel import Channel
from .limits import MIB, SandboxLimits, apply_rlimits, inference_threads, lower_priority, rlimits_for
from .seccomp import build_filter_fd

CHILD_PROGRAM = Path(__file__).with_name("child.py")
SCRATCH_PREFIX = "touchstone-io-"
WORKER_FILE = "worker"


def child_environment(threads: int) -> dict[str, str]:
    """The complete environment of the child: thread counts and harmless defaults only."""
    count = str(threads)
    return {
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": count,
        "MKL_NUM_THREADS": count,
        "OPENBLAS_NUM_THREADS": count,
        # A fresh process's glibc hands every activation of more than a few MiB back to the
        # kernel after each batch and faults it in again on the next one, which made inference
        # in the child ~20% slower than in a long-lived process. Keeping freed memory (up to
        # the trim threshold) removes that; it is still counted against the memory cap.
        "GLIBC_TUNABLES": (f"glibc.malloc.mmap_threshold={32 * MIB}:glibc.malloc.trim_threshold={256 * MIB}"),
    }


@dataclass
class ChildHandle:
    """The host resources of one child; every field is None until it exists."""

    scratch: Path | None = None
    """The scratch IO folder: ``in/`` for inputs and ``out.npy`` for logits."""
    channel: Channel | None = None
    """Control pipes and the drained stdout/stderr."""
    cgroup: RunCgroup | None = None
    """The run's cgroups (possibly with no controllers)."""
    process: subprocess.Popen[bytes] | None = None
    """bubblewrap (or, unsandboxed, the child itself), leader of its process group."""
    layers: tuple[str, ...] = ()
    """The protection layers in force."""
    started_at: float = 0.0
    """``time.monotonic()`` when the process was spawned."""
    cgroup_peak: int | None = None
    """Peak memory read from the cgroup just before it was removed."""
    account: SandboxAccount | None = None
    """The account bubblewrap runs as (a root worker), or None (the worker itself)."""

    def kill(self) -> None:
        """SIGKILL the process group and everything left in the cgroup; reap the process."""
        process = self.process
        if process is not None and process.poll() is None:
            # The child leads its own process group (start_new_session); bubblewrap's
            # --die-with-parent and the pid namespace take the sandboxed processes with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)

    def close(self) -> None:
        """Kill the child, then remove its cgroup, close its pipes, delete its IO folder."""
        self.kill()
        if self.cgroup is not None:
            self.cgroup_peak = self.cgroup.peak_memory_bytes() or self.cgroup_peak
            self.cgroup.remove()
            self.cgroup = None
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def _sweep_stale_scratch() -> None:
    """Delete IO folders left by workers that died without cleaning up (e.g. SIGKILL).

    Each folder holds a ``worker`` file with its worker's pid (the name itself is random: the
    sandbox can read it in its mount table); only folders of this user whose worker is gone
    are removed.
    """
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            worker = int((folder / WORKER_FILE).read_text())
            os.kill(worker, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, OSError):
            continue


def _prepare_scratch(
    scratch: Path,
    account: SandboxAccount | None,
    *,
    program: Path,
    model_path: Path,
    model_name: str,
    sandboxed: bool,
) -> bwrap_layer.SandboxPaths:
    """Fill the IO folder: ``in/``, ``out.npy`` and, for bubblewrap, copies of program and model.

    The copies keep the model's storage path and the project's layout out of the sandbox's
    mount table. With a sandbox account (a root worker), the account may enter the folder and
    ``in/`` through its group, read the copies, and write ``out.npy`` -- nothing else.
    """
    (scratch / WORKER_FILE).write_text(str(os.getpid()))
    input_dir = scratch / "in"
    input_dir.mkdir()
    output_file = scratch / "out.npy"
    output_file.touch(mode=0o600)
    if not sandboxed:
        return bwrap_layer.SandboxPaths(program, model_path, input_dir, output_file)
    child_copy = scratch / "child.py"
    shutil.copyfile(program, child_copy)
    model_copy = scratch / model_name
    shutil.copyfile(model_path, model_copy)
    os.chmod(child_copy, 0o644)
    os.chmod(model_copy, 0o640)
    if account is not None:
        # Root owns everything here; the account's group may enter the folder (to reach the
        # mount points and the files bubblewrap binds), list and read the inputs, and read the
        # copies. New inputs inherit the group through the setgid bit.
        for path in (scratch, input_dir, model_copy):
            os.chown(path, -1, account.gid)
        os.chmod(scratch, 0o710)
        os.chmod(input_dir, 0o2750)
        os.chown(output_file, account.uid, account.gid)
    return bwrap_layer.SandboxPaths(child_copy, model_copy, input_dir, output_file)


def _staged_sources(view: bwrap_layer.InterpreterView) -> list[Path]:
    """Interpreter folders and files an unprivileged account may not be able to reach.

    Everything under ``/usr`` is readable by all; anything else (pyenv under ``/root``, a
    virtual environment in a home directory) is mounted onto a reachable mount point first.
    """
    system = (Path("/usr"), Path("/etc"))
    return [
        bind.source
        for bind in view.binds
        if not any(bind.source == top or top in bind.source.parents for top in system)
    ]


def _child_arguments(
    request_fd: int,
    reply_fd: int,
    model: str,
    model_format: str,
    input_dir: str,
    output: str,
    threads: int,
) -> list[str]:
    return [
        "--control-in",
        str(request_fd),
        "--control-out",
        str(reply_fd),
        "--model",
        model,
        "--format",
        model_format,
        "--input-dir",
        input_dir,
        "--output-file",
        output,
        "--threads",
        str(threads),
    ]


def start_child(
    handle: ChildHandle,
    *,
    model_path: Path,
    model_format: str,
    limits: SandboxLimits,
    bwrap: str | None,
    program: Path = CHILD_PROGRAM,
    program_arguments: Sequence[str] | None = None,
) -> None:
    """Spawn the child for ``model_path`` into ``handle``; bubblewrap unless ``bwrap`` is None.

    Returns once the process runs; the caller waits for its ``ready`` message. On an exception
    the caller closes ``handle``. ``program`` and ``program_arguments`` replace the child
    program and its arguments (the security tests run a probe in the very same sandbox).
    Raises SandboxUnavailableError when a root worker has no usable sandbox account.
    """
    account = sandbox_account() if bwrap is not None else None
    handle.account = account
    _sweep_stale_scratch()
    scratch = handle.scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    model_name = "model.pt2" if model_format == "torch.export" else "model.pt"
    paths = _prepare_scratch(
        scratch,
        account,
        program=program,
        model_path=model_path.resolve(),
        model_name=model_name,
        sandboxed=bwrap is not None,
    )

    threads = inference_threads()
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    stderr_read, stderr_write = os.pipe()
    handle.channel = Channel(
        request_fd=request_write,
        reply_fd=reply_read,
        stdout_fd=stdout_read,
        stderr_fd=stderr_read,
        log_limit=limits.max_log_bytes,
    )
    environment = child_environment(threads)
    seccomp_fd = arguments = None
    drop: PrivilegeDrop | None = None
    try:
        if bwrap is not None:
            seccomp_fd = build_filter_fd()
            view = bwrap_layer.interpreter_view()
            sources: dict[Path, Path] = {}
            if account is not None:
                staging = prepare_mount_points(scratch, _staged_sources(view))
                sources = dict(zip(staging.sources, staging.mount_points, strict=True))
                drop = PrivilegeDrop(account, staging)
            options = bwrap_layer.sandbox_options(
                paths,
                model_name=model_name,
                tmp_size_bytes=limits.file_size_bytes,
                environment=environment,
                seccomp_fd=seccomp_fd,
                interpreter=view,
                sources=sources,
            )
            arguments = bwrap_layer.arguments_fd(options)
            if program_arguments is None:
                program_arguments = _child_arguments(
                    request_read,
                    reply_write,
                    f"{bwrap_layer.SANDBOX_ROOT}/{model_name}",
                    model_format,
                    bwrap_layer.INPUT_DIR,
                    bwrap_layer.OUTPUT_FILE,
                    threads,
                )
            command = bwrap_layer.build_command(bwrap, arguments=arguments, child_arguments=program_arguments)
            layers = ["bubblewrap"] + (["seccomp"] if seccomp_fd is not None else [])
            # bubblewrap itself gets an empty environment; --setenv gives the child its own.
            process_environment: dict[str, str] = {}
        else:
            if program_arguments is None:
                program_arguments = _child_arguments(
                    request_read,
                    reply_write,
                    str(paths.model_file),
                    model_format,
                    str(paths.input_dir),
                    str(paths.output_file),
                    threads,
                )
            command = [sys.executable, "-I", "-B", str(program), *program_arguments]
            layers = ["unsandboxed"]
            process_environment = environment
        cgroup = handle.cgroup = RunCgroup.create(memory_bytes=limits.memory_bytes, pids=limits.pids)
        handle.layers = (*layers, "rlimits", *cgroup.layers)
        rlimits = rlimits_for(limits)
        cgroup.open_for_attach()

        def prepare_child() -> None:
            # Runs in the forked child before exec: join the run's cgroups first, so bubblewrap
            # and everything it starts are counted, then lower the rlimits and the priority,
            # then (a root worker) become the sandbox account -- last, because the cgroup files
            # and the private mounts need root. It takes no locks and imports nothing, which
            # keeps it safe in a multi-threaded worker.
            cgroup.attach_self()
            apply_rlimits(rlimits)
            lower_priority(limits.niceness)
            if drop is not None:
                drop.apply()

        passed = [request_read, reply_write] + [fd for fd in (seccomp_fd, arguments) if fd is not None]
        handle.started_at = time.monotonic()
        try:
            handle.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=stdout_write,
                stderr=stderr_write,
                pass_fds=passed,
                preexec_fn=prepare_child,
                start_new_session=True,
                env=process_environment,
                cwd="/",
            )
        except (subprocess.SubprocessError, OSError) as error:
            # prepare_child failed (the cgroups, the private mounts, the switch to the sandbox
            # account), or bubblewrap could not be executed (e.g. by the account): the host's
            # fault, never the model's.
            who = f"the sandbox account {account.name!r}" if account else "the worker"
            raise SandboxUnavailableError(
                f"The sandbox could not be started as {who}. {bwrap_layer.START_HINT}",
                private_detail=f"{command[0]}: {error}",
            ) from None
    finally:
        # Only the child may hold these ends: the parent then sees EOF when it dies.
        for fd in (request_read, reply_write, stdout_write, stderr_write, seccomp_fd, arguments):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if handle.cgroup is not None:
            handle.cgroup.close_attach_fds()
