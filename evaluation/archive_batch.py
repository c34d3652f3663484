"""Upload check of a torch.export program's batch dimension, read from its serialized graph.

``torch.export.export(model, (example,))`` without ``dynamic_shapes`` specialises every
dimension to the example's size, so the program accepts only batches of exactly that many
items and fails in the sandbox with ``Guard failed: x.size()[0] == 2``. The site sends batches
of up to its batch size and a smaller last one, so such a program can never be scored; the
program JSON (``models/<name>.json``) says so before anything is loaded: the first user input's
first size is ``{"as_int": n}`` instead of a symbol, or a symbol whose range starts above 1.

Only what the archive states is read; a program whose layout is not the expected one is left to
the preflight, which runs it.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ModelFileError

_SYMBOL = re.compile(r"Symbol\('([A-Za-z_][A-Za-z0-9_]*)'")


def check_batch_dimension(program: Any, *, where: str) -> None:
    """Refuse an exported program whose first input has a fixed batch size (or none below 2)."""
    found = _first_input(program)
    if found is None:
        return
    name, sizes = found
    first = sizes[0]
    fix = (
        f"Export it with a dynamic batch dimension: torch.export.export(model, (example,), "
        f"dynamic_shapes={{'{name}': {{0: torch.export.Dim('batch')}}}}), then torch.export.save it."
    )
    shown = ", ".join(_size_text(size) for size in sizes)
    if isinstance(first, dict) and isinstance(first.get("as_int"), int):
        raise ModelFileError(
            f"The exported program in {where} fixes the batch size to {first['as_int']}: its input "
            f"{name!r} has shape [{shown}], so it can only run on batches of exactly "
            f"{first['as_int']} items, and the site sends batches of up to its batch size and a "
            f"smaller last one. {fix}"
        )
    low = _lowest_value(program, first)
    if low is not None and low > 1:
        raise ModelFileError(
            f"The exported program in {where} accepts only batches of at least {low} items (its input "
            f"{name!r} has shape [{shown}]), and the site's last batch may hold a single item. {fix}"
        )


def _first_input(program: Any) -> tuple[str, list[Any]] | None:
    """The name and sizes of the program's first user input, or None if the layout is unexpected."""
    graph_module = program.get("graph_module") if isinstance(program, dict) else None
    if not isinstance(graph_module, dict):
        return None
    signature, graph = graph_module.get("signature"), graph_module.get("graph")
    if not isinstance(signature, dict) or not isinstance(graph, dict):
        return None
    specs = signature.get("input_specs")
    values = graph.get("tensor_values")
    if not isinstance(specs, list) or not isinstance(values, dict):
        return None
    for spec in specs:
        user_input = spec.get("user_input") if isinstance(spec, dict) else None
        if not isinstance(user_input, dict):
            continue
        argument = user_input.get("arg")
        tensor = argument.get("as_tensor") if isinstance(argument, dict) else None
        name = tensor.get("name") if isinstance(tensor, dict) else None
        value = values.get(name) if isinstance(name, str) else None
        sizes = value.get("sizes") if isinstance(value, dict) else None
        if isinstance(name, str) and isinstance(sizes, list) and sizes:
            return name, sizes
        return None
    return None


def _lowest_value(program: dict[str, Any], size: Any) -> int | None:
    """The smallest value the program's range constraints allow a symbolic size, if stated."""
    expression = size.get("as_expr") if isinstance(size, dict) else None
    text = expression.get("expr_str") if isinstance(expression, dict) else None
    match = _SYMBOL.fullmatch(text.split(",")[0]) if isinstance(text, str) else None
    if match is None:
        return None
    constraints = program.get("range_constraints")
    bounds = constraints.get(match.group(1)) if isinstance(constraints, dict) else None
    low = bounds.get("min_val") if isinstance(bounds, dict) else None
    return low if isinstance(low, int) and not isinstance(low, bool) else None


def _size_text(size: Any) -> str:
    if isinstance(size, dict) and isinstance(size.get("as_int"), int):
        return str(size["as_int"])
    return "dynamic"
