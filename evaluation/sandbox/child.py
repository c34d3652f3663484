"""The program that runs inside the sandbox: load one model, then serve requests.

This file is bound read-only into the sandbox on its own and run with ``python -I -B``, so it
imports nothing but the standard library, numpy and torch -- never the rest of ``evaluation``.

Protocol (JSON lines on two dedicated pipe fds; the model's own stdout/stderr are separate):

- child → parent, once, before the model file is touched: ``{"op": "opening"}`` once numpy and
  torch are imported, or ``{"op": "error", "kind": "environment", ...}``. Everything up to here is
  this file's own code, so the parent may trust it; from here on the child may run code from the
  model, and the parent treats every message as untrusted input.
- child → parent, once: ``{"op": "ready", "parameter_count": ..., ...}`` after loading, or
  ``{"op": "error", "kind": "load", ...}``.
- parent → child: ``{"op": "predict", "input": "<name>.npy", "batch_size": B, "n_classes": K}``.
  The input file lies in the read-only input folder and is opened as a memory map; logits go to
  the one writable output file as a ``.npy`` of float32 ``[N, K]``, written batch by batch.
- child → parent per request: ``{"op": "done", ...}`` with per-batch timings,
  ``{"op": "malformed", ...}`` describing an output of the wrong kind, or
  ``{"op": "error", "kind": "raised", ...}`` with the tail of the model's traceback.

New operations (e.g. a label-free adversarial attack that needs gradients) are added as one
more entry in ``HANDLERS``; the parent never sends labels, so none can reach the model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import traceback
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

if TYPE_CHECKING:
    # For annotations only: torch is imported at run time once the child has locked itself down.
    import torch

TRACEBACK_LINES = 10

Message = dict[str, object]
"""One JSON line of the protocol, as this file writes it."""


def _send(channel: BinaryIO, message: Message) -> None:
    channel.write(json.dumps(message).encode() + b"\n")
    channel.flush()


def _traceback_tail(error: BaseException) -> list[str]:
    try:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    except MemoryError:
        text = f"{type(error).__name__}"
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return [line[:500] for line in lines[-TRACEBACK_LINES:]]


def _error(kind: str, error: BaseException) -> Message:
    return {
        "op": "error",
        "kind": kind,
        "exception": type(error).__name__,
        "traceback": _traceback_tail(error),
    }


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _describe(output: object) -> str:
    import torch

    if isinstance(output, torch.Tensor):
        dtype = str(output.dtype).replace("torch.", "")
        article = "an" if dtype[0] in "aeiou" else "a"
        return f"{article} {dtype} tensor of shape {list(output.shape)}"
    return f"a {type(output).__name__}"


def _check_output(output: object, batch_items: int, n_classes: int) -> str | None:
    """Return why ``output`` is not float32 logits of shape [batch_items, n_classes]."""
    import torch

    if not isinstance(output, torch.Tensor):
        return "type"
    # Check the shape before touching the data: a gigantic expanded view costs nothing until
    # it is materialised.
    if tuple(output.shape) != (batch_items, n_classes):
        return "shape"
    if output.dtype != torch.float32:
        return "dtype"
    if output.layout != torch.strided or output.is_complex():
        return "type"
    return None


def predict(model: torch.nn.Module, request: Mapping[str, Any], io: Mapping[str, str]) -> Message:
    """Run the model over one input file, batch by batch, and write its logits."""
    import numpy as np
    import torch

    input_path = os.path.join(io["input_dir"], os.path.basename(str(request["input"])))
    batch_size = int(request["batch_size"])
    n_classes = int(request["n_classes"])
    inputs = np.load(input_path, mmap_mode="r", allow_pickle=False)
    total = int(inputs.shape[0])
    batch_seconds: list[float] = []
    with open(io["output_file"], "wb") as output_file:
        header = {"descr": "<f4", "fortran_order": False, "shape": (total, n_classes)}
        np.lib.format.write_array_header_1_0(output_file, header)
        with torch.inference_mode():
            for index, start in enumerate(range(0, total, batch_size)):
                # Copy the batch out of the read-only memory map: torch wants writable memory.
                batch = torch.from_numpy(np.array(inputs[start : start + batch_size]))
                began = time.perf_counter()
                try:
                    output = model(batch)
                except BaseException as error:
                    return _error("raised", error)
                batch_seconds.append(time.perf_counter() - began)
                problem = _check_output(output, len(batch), n_classes)
                if problem is not None:
                    return {
                        "op": "malformed",
                        "problem": problem,
                        "batch_index": index,
                        "batch_items": len(batch),
                        "returned": _describe(output),
                    }
                output_file.write(output.detach().contiguous().numpy().tobytes())
    return {
        "op": "done",
        "items": total,
        "batch_seconds": batch_seconds,
        "max_rss_bytes": _max_rss_bytes(),
    }


Handler = Callable[["torch.nn.Module", Mapping[str, Any], Mapping[str, str]], Message]

HANDLERS: dict[str, Handler] = {"predict": predict}


# Folders and files of a .pt2 that torch.export.load would run as native code or unpickle as
# arbitrary Python objects. The upload checks refuse such archives; the child refuses them too.
_REFUSED_EXPORT_MEMBERS = (
    "data/aotinductor/",
    "data/executorch/",
    "data/mtia",
    "xl_model_weights/",
    "data/constants/opaque_obj_",
    "data/constants/custom_obj_",
)


def _load_export(path: str) -> torch.nn.Module:
    """Load a torch.export archive without letting it unpickle or run anything but tensors."""
    import pickle
    import zipfile

    import torch
    from torch.export.pt2_archive import _package

    # torch.export.load retries a failed weights-only torch.load with weights_only=False, and
    # loads pickled weights with weights_only=False outright; this makes every one of them
    # weights-only (torch reads the variable on each torch.load call).
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"

    class _RefusingPickle(types.ModuleType):
        @staticmethod
        def loads(*args: object, **kwargs: object) -> NoReturn:
            raise pickle.UnpicklingError("pickled Python objects in a .pt2 are not loaded")

    # Opaque constants go through the pickle module directly, which the variable does not cover.
    _package.pickle = _RefusingPickle("pickle")
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.partition("/")[2].startswith(_REFUSED_EXPORT_MEMBERS):
                raise ValueError(f"the archive member {name!r} is not loaded")
    # check_guards=False: the guards would be compiled from Python source in the archive.
    return torch.export.load(path).module(check_guards=False)


def load_model(path: str, model_format: str) -> torch.nn.Module:
    """Load a TorchScript or torch.export archive on the CPU."""
    import torch

    if model_format == "torchscript":
        # torch.jit.load has no annotations; it returns a ScriptModule, a torch.nn.Module.
        model: torch.nn.Module = torch.jit.load(path, map_location="cpu")  # type: ignore[no-untyped-call]
        model.eval()
        return model
    if model_format == "torch.export":
        return _load_export(path)
    raise ValueError(f"unknown model format {model_format!r}")


def parameter_count(model: torch.nn.Module) -> int | None:
    """Count the model's parameters, or None if it does not expose them."""
    try:
        return int(sum(parameter.numel() for parameter in model.parameters()))
    except Exception:
        return None


def _restrict_process() -> None:
    """Die with the parent and stop being dumpable, before any model code can run.

    bubblewrap's --die-with-parent covers sandboxed runs; PR_SET_PDEATHSIG covers unsandboxed
    ones, so a worker killed outright never leaves a model running. A non-dumpable process
    writes no core file and cannot be ptraced or have its memory read through /proc by another
    process of the same user.
    """
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        libc.prctl(4, 0)  # PR_SET_DUMPABLE
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    """Entry point inside the sandbox; returns the process exit status."""
    _restrict_process()
    parser = argparse.ArgumentParser()
    parser.add_argument("--control-in", type=int, required=True)
    parser.add_argument("--control-out", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--format", required=True)
    parser.add_argument("--input-dir", required=True)
    parser.add_argument("--output-file", required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    requests = os.fdopen(args.control_in, "rb")
    replies = os.fdopen(args.control_out, "wb")

    began = time.perf_counter()
    try:
        import numpy  # noqa: F401 - fail here, with a clear message, not in the first request
        import torch

        torch.set_num_threads(max(1, args.threads))
        torch.set_num_interop_threads(1)
    except BaseException as error:
        _send(replies, _error("environment", error))
        return 1
    imported = time.perf_counter()
    _send(replies, {"op": "opening"})
    try:
        model = load_model(args.model, args.format)
    except BaseException as error:
        _send(replies, _error("load", error))
        return 1
    _send(
        replies,
        {
            "op": "ready",
            "parameter_count": parameter_count(model),
            "import_seconds": imported - began,
            "load_seconds": time.perf_counter() - imported,
            "max_rss_bytes": _max_rss_bytes(),
        },
    )
    io = {"input_dir": args.input_dir, "output_file": args.output_file}
    for line in requests:
        request = json.loads(line)
        handler = HANDLERS.get(request.get("op"))
        if handler is None:
            _send(
                replies,
                {
                    "op": "error",
                    "kind": "protocol",
                    "exception": "ValueError",
                    "traceback": [f"unknown operation {request.get('op')!r}"],
                },
            )
            continue
        _send(replies, handler(model, request, io))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
