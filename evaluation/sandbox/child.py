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
- parent → child: ``{"op": "attack", "input": ..., "batch_size": B, "n_classes": K, "method":
  "fgsm" | "pgd", "eps": e, "low": lo, "high": hi, "seed": s, "steps": T}``. A label-free L∞
  attack on the model's own clean prediction ``y = argmax f(x)`` of each batch, with the loss
  ``L = CE(f(x'), y)``: FGSM ``x' = clip(x + e·sign(∇x L), lo, hi)``; PGD from one random
  start ``x + U(-e, e)`` (a ``torch.Generator`` seeded with ``s``), ``T`` steps of size e/4,
  each projected onto the e-ball around ``x`` and clipped to ``[lo, hi]``. The logits on the
  adversarial inputs go to the output file as for ``predict``; the reply is ``{"op":
  "attacked", "zero_gradients": bool, ...}`` (true when every gradient the attack took was
  exactly zero), or ``{"op": "no_gradient", "reason": "nonfinite" | "raised", ...}``, or
  ``malformed``.
- parent → child: ``{"op": "saliency", "input": ..., "targets": "<name>.npy", "batch_size":
  B, "n_classes": K}``: ``|∂ z_t / ∂x|`` for each item, ``z_t`` the logit of its target class
  (the model's own clean prediction, chosen by the parent), flattened to float32 ``[N, D]`` in
  the output file; the reply is ``{"op": "explained", ...}``, ``no_gradient`` or ``malformed``.

The parent never sends labels, so none can reach the model. What leaves the child for the
gradient operations is the adversarial logits, the saliency maps, one flag, and on failure an
exception's type and traceback, which the parent shows only for public inputs.
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


# Input gradients: label-free attacks and saliency ------------------------------------------


class _NonFinite(Exception):
    """An input gradient held NaN or Inf."""


class _Malformed(Exception):
    """The model returned something other than ``[B, K]`` float32 logits."""

    def __init__(self, problem: str, output: object) -> None:
        super().__init__(problem)
        self.problem = problem
        self.returned = _describe(output)


def _require_logits(output: object, batch_items: int, n_classes: int) -> torch.Tensor:
    import torch

    problem = _check_output(output, batch_items, n_classes)
    if problem is not None:
        raise _Malformed(problem, output)
    assert isinstance(output, torch.Tensor)
    return output


def _input_gradient(
    model: torch.nn.Module,
    point: torch.Tensor,
    target: torch.Tensor | None,
    n_classes: int,
    objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """``∇x objective(f(x), target)`` at ``point``, and the target (the prediction if None).

    An output that autograd does not connect to the input (forward() under torch.no_grad, an
    argmax or a one-hot) has a gradient of zero, which the caller reports; it is not an error.
    """
    import torch

    point = point.detach().requires_grad_(True)
    with torch.enable_grad():
        output = _require_logits(model(point), len(point), n_classes)
        if target is None:
            target = output.detach().argmax(dim=1)
        gradient = None
        if output.requires_grad:
            (gradient,) = torch.autograd.grad(objective(output, target), point, allow_unused=True)
    if gradient is None:
        gradient = torch.zeros_like(point)
    if not bool(torch.isfinite(gradient).all()):
        raise _NonFinite()
    return gradient.detach().to(torch.float32), target


def _cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as functional

    # A sum, not a mean: each item's gradient is then its own loss's, whatever the batch size.
    return functional.cross_entropy(output, target, reduction="sum")


def _target_logit(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return output.gather(1, target[:, None]).sum()


def adversarial_batch(
    model: torch.nn.Module,
    clean: torch.Tensor,
    n_classes: int,
    settings: Mapping[str, Any],
    generator: torch.Generator,
) -> tuple[torch.Tensor, bool]:
    """The attacked batch and whether any gradient the attack took was non-zero."""
    import torch

    eps, low, high = float(settings["eps"]), float(settings["low"]), float(settings["high"])
    if settings["method"] == "fgsm":
        gradient, _ = _input_gradient(model, clean, None, n_classes, _cross_entropy)
        return (clean + eps * gradient.sign()).clamp(low, high), bool(gradient.any())
    # PGD: the clean prediction first (no gradient needed), then one random start.
    with torch.no_grad():
        target = _require_logits(model(clean), len(clean), n_classes).argmax(dim=1)
    noise = torch.rand(clean.shape, generator=generator, dtype=clean.dtype) * 2 - 1
    point = (clean + eps * noise).clamp(low, high)
    moved = False
    for _ in range(int(settings["steps"])):
        gradient, _ = _input_gradient(model, point, target, n_classes, _cross_entropy)
        moved = moved or bool(gradient.any())
        point = point + (eps / 4) * gradient.sign()
        point = torch.minimum(torch.maximum(point, clean - eps), clean + eps).clamp(low, high)
    return point, moved


def _stop_weight_gradients(model: torch.nn.Module) -> None:
    """Only input gradients are needed: skipping the weights' saves a third of the backward pass."""
    try:
        for parameter in model.parameters():
            parameter.requires_grad_(False)
    except Exception:
        pass


def _no_gradient(reason: str, error: BaseException | None = None) -> Message:
    message: Message = {"op": "no_gradient", "reason": reason}
    if error is not None:
        kind = type(error)
        message["exception"] = (
            kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        )
        message["traceback"] = _traceback_tail(error)
    return message


def _malformed(problem: _Malformed, index: int, batch_items: int) -> Message:
    return {
        "op": "malformed",
        "problem": problem.problem,
        "batch_index": index,
        "batch_items": batch_items,
        "returned": problem.returned,
    }


def _gradient_failure(error: BaseException, index: int, batch_items: int) -> Message:
    """The reply to a batch whose gradient operation failed: malformed output, or no usable gradient."""
    if isinstance(error, _Malformed):
        return _malformed(error, index, batch_items)
    if isinstance(error, _NonFinite):
        return _no_gradient("nonfinite")
    return _no_gradient("raised", error)


def _open_rows(io: Mapping[str, str], name: object) -> Any:
    import numpy as np

    path = os.path.join(io["input_dir"], os.path.basename(str(name)))
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _write_header(output_file: BinaryIO, rows: int, columns: int) -> None:
    import numpy as np

    header = {"descr": "<f4", "fortran_order": False, "shape": (rows, columns)}
    np.lib.format.write_array_header_1_0(output_file, header)


def attack(model: torch.nn.Module, request: Mapping[str, Any], io: Mapping[str, str]) -> Message:
    """Attack the model's own clean predictions and write its logits on the attacked inputs."""
    import numpy as np
    import torch

    inputs = _open_rows(io, request["input"])
    batch_size, n_classes = int(request["batch_size"]), int(request["n_classes"])
    generator = torch.Generator().manual_seed(int(request["seed"]))
    _stop_weight_gradients(model)
    moved = False
    with open(io["output_file"], "wb") as output_file:
        _write_header(output_file, len(inputs), n_classes)
        for index, start in enumerate(range(0, len(inputs), batch_size)):
            clean = torch.from_numpy(np.array(inputs[start : start + batch_size]))
            try:
                adversarial, batch_moved = adversarial_batch(model, clean, n_classes, request, generator)
                with torch.inference_mode():
                    logits = _require_logits(model(adversarial), len(clean), n_classes)
            except BaseException as error:
                return _gradient_failure(error, index, len(clean))
            moved = moved or batch_moved
            output_file.write(logits.detach().contiguous().numpy().tobytes())
    return {"op": "attacked", "zero_gradients": not moved, "max_rss_bytes": _max_rss_bytes()}


def saliency(model: torch.nn.Module, request: Mapping[str, Any], io: Mapping[str, str]) -> Message:
    """Write ``|∂ z_target / ∂x|`` of every item, flattened, as float32 ``[N, D]``."""
    import numpy as np
    import torch

    inputs = _open_rows(io, request["input"])
    targets = _open_rows(io, request["targets"])
    batch_size, n_classes = int(request["batch_size"]), int(request["n_classes"])
    _stop_weight_gradients(model)
    width = int(np.prod(inputs.shape[1:]))
    with open(io["output_file"], "wb") as output_file:
        _write_header(output_file, len(inputs), width)
        for index, start in enumerate(range(0, len(inputs), batch_size)):
            clean = torch.from_numpy(np.array(inputs[start : start + batch_size]))
            target = torch.from_numpy(np.array(targets[start : start + batch_size], dtype=np.int64))
            try:
                gradient, _ = _input_gradient(model, clean, target, n_classes, _target_logit)
            except BaseException as error:
                return _gradient_failure(error, index, len(clean))
            output_file.write(gradient.abs().reshape(len(clean), width).contiguous().numpy().tobytes())
    return {"op": "explained", "max_rss_bytes": _max_rss_bytes()}


Handler = Callable[["torch.nn.Module", Mapping[str, Any], Mapping[str, str]], Message]

HANDLERS: dict[str, Handler] = {"predict": predict, "attack": attack, "saliency": saliency}


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
