"""Checks of a torch.export program (``models/*.json``) before the sandbox loads it.

torch's loader does not treat every string of the program as data. It evaluates each symbolic
shape expression with ``sympy.sympify`` (Python's ``eval``), compiles the ``guards_code`` lines
into a Python function, resolves each node's ``target`` to whatever callable the dotted name
reaches under ``torch``, ``math`` or ``_operator``, writes attribute names into generated
Python source, and imports the modules named by tree-spec contexts. So a hand-edited program can
run any Python in the loading process. Here every such string must have the shape torch writes:

- shape expressions: sympy constructors (``Symbol('s0', positive=True)``, ``FloorDiv(...)``),
  numbers and operators; no attribute access, subscripts, lambdas or other names;
- guards: comparisons of input sizes (``L['x'].size()[0] <= 64``);
- node targets: ATen operators, a few higher-order operators, and the arithmetic that symbolic
  shapes use;
- names (nodes, parameters, buffers, module paths): letters, digits, ``_``, ``-`` and dots;
- tree specs: tuples, lists, dicts and ``torch.Size`` only; no custom objects.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from collections.abc import Callable
from typing import Any

from .archive_zip import ParseBudget
from .errors import ModelFileError

MAX_EXPRESSION_CHARS = 4096

_NAME = re.compile(r"[A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*", re.ASCII)
_SYMBOL_NAME = re.compile(r"[A-Za-z]{1,8}[0-9]+", re.ASCII)
_STRING_LITERAL = re.compile(r"""(?P<q>['"])(?!__)[A-Za-z_][A-Za-z0-9_]*(?P=q)""", re.ASCII)
_ATEN_OPERATOR = re.compile(r"torch\.ops\.aten\.(?!__)\w+\.(?!__)\w+", re.ASCII)
_FORBIDDEN_CHARACTERS = re.compile(r"[\n\r\x0b\x0c#;\\@]")

_SYMPY_NAMES = frozenset(
    # Constructors sympy's srepr and torch's printer write, and the keyword arguments of
    # Symbol and Float.
    "Symbol Integer Float Rational Add Mul Pow Mod Max Min Abs floor ceiling Eq Ne Lt Le Gt Ge "
    "StrictLessThan StrictGreaterThan LessThan GreaterThan Equality Unequality And Or Not "
    "Piecewise ExprCondPair true false True False oo zoo nan Infinity NegativeInfinity "
    "positive negative nonnegative nonpositive integer real finite infinite zero nonzero even "
    "odd commutative extended_real rational precision "
    # torch.utils._sympy.functions, which torch's deserializer hands to sympify by name.
    "FloorDiv ModularIndexing Where PythonMod CleanDiv CeilToInt FloorToInt CeilDiv LShift "
    "RShift PowByNatural FloatPow FloatTrueDiv IntTrueDiv IsNonOverlappingAndDenseIndicator "
    "TruncToFloat TruncToInt RoundToInt RoundDecimal ToFloat Identity".split()
)
_OPAQUE_FUNCTION = re.compile(r"(OpaqueUnaryFn|BitwiseFn)_[a-z_]+", re.ASCII)
_EXPRESSION_OPERATORS = frozenset("+ - * / // % ** ( ) , = < > <= >= == !=".split())
_GUARD_NAMES = frozenset("L size stride storage_offset dim numel math isnan isinf inf and or not True False".split())
_GUARD_OPERATORS = _EXPRESSION_OPERATORS - {"="} | {"[", "]", "."}

_OPERATOR_TARGETS = frozenset(
    [
        f"_operator.{name}"
        for name in (
            "add sub mul truediv floordiv mod pow neg pos abs eq ne lt le gt ge and_ or_ xor not_ "
            "invert lshift rshift getitem".split()
        )
    ]
    + [f"math.{name}" for name in ("ceil", "floor", "trunc", "sqrt")]
    + [f"torch.sym_{name}" for name in ("float int max min not ite sqrt sum".split())]
    + [
        f"torch.ops.higher_order.{name}"
        for name in (
            "cond while_loop map_impl scan associative_scan wrap_with_set_grad_enabled wrap_with_autocast".split()
        )
    ]
)
_TREE_TYPES = frozenset(
    [
        None,
        "builtins.tuple",
        "builtins.list",
        "builtins.dict",
        "collections.OrderedDict",
        "torch.Size",
        "torch.fx.immutable_collections.immutable_list",
        "torch.fx.immutable_collections.immutable_dict",
    ]
)

_NAME_KEYS = frozenset(
    "as_name buffer_name custom_obj_name fqn name parameter_name tensor_constant_name user_input_name".split()
)
_NAME_LIST_KEYS = frozenset(["forward_arg_names", "field_names"])
_NAMED_DICT_KEYS = frozenset(
    "tensor_values sym_int_values sym_bool_values sym_float_values range_constraints "
    "treespec_namedtuple_fields custom_obj_values".split()
)
_SAVE_AGAIN = "Export the model again with torch.export.export and save it with torch.export.save."


def _refuse(where: str, what: str, value: str) -> ModelFileError:
    shown = value if len(value) <= 120 else value[:117] + "..."
    return ModelFileError(
        f"The torch.export program {where} contains {what} that torch.export.save does not "
        f"write ({shown!r}); loading it would run code. {_SAVE_AGAIN}"
    )


def _tokens(text: str) -> list[tokenize.TokenInfo] | None:
    """Python tokens of ``text``, or None when it does not tokenize cleanly."""
    if len(text) > MAX_EXPRESSION_CHARS or _FORBIDDEN_CHARACTERS.search(text):
        return None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    return [t for t in tokens if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]


def _only_allowed_tokens(
    text: str, *, name_allowed: Callable[[str], bool], operators: frozenset[str] | set[str]
) -> bool:
    """Whether ``text`` tokenizes into allowed names, allowed operators, numbers and plain strings."""
    tokens = _tokens(text)
    if tokens is None:
        return False
    for token in tokens:
        if token.type == tokenize.NAME:
            if not name_allowed(token.string):
                return False
        elif token.type == tokenize.OP:
            if token.string not in operators:
                return False
        elif token.type == tokenize.STRING:
            if not _STRING_LITERAL.fullmatch(token.string):
                return False
        elif token.type != tokenize.NUMBER:
            return False
    return True


def _expression_name(name: str) -> bool:
    return bool(name in _SYMPY_NAMES or _SYMBOL_NAME.fullmatch(name) or _OPAQUE_FUNCTION.fullmatch(name))


def is_safe_expression(text: str) -> bool:
    """Whether a symbolic shape expression uses only sympy constructors, numbers and symbols.

    Without attribute access, subscripts, keywords or unknown names, ``eval`` of such an
    expression can only build sympy objects.
    """
    return _only_allowed_tokens(text, name_allowed=_expression_name, operators=_EXPRESSION_OPERATORS)


def is_safe_guard(text: str) -> bool:
    """Whether a guard only compares sizes, strides and offsets of the inputs."""
    return _only_allowed_tokens(text, name_allowed=_GUARD_NAMES.__contains__, operators=_GUARD_OPERATORS)


def is_allowed_target(target: str) -> bool:
    """Whether a node target is an ATen operator or one of the few other allowed callables."""
    return target in _OPERATOR_TARGETS or bool(_ATEN_OPERATOR.fullmatch(target))


def _check_tree_spec(spec: str, where: str) -> None:
    if "__enum__" in spec:
        raise _refuse(where, "a tree spec naming an enum", spec)
    try:
        parsed = json.loads(spec)
    except (ValueError, RecursionError):
        raise _refuse(where, "a malformed tree spec", spec) from None
    stack: list[Any] = [parsed]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if "type" in node and node["type"] not in _TREE_TYPES:
                raise _refuse(where, "a tree spec of another type", str(node["type"]))
            stack.extend(node.values())


def _check_name(value: object, where: str) -> None:
    if value is not None and not (isinstance(value, str) and _NAME.fullmatch(value)):
        raise _refuse(where, "a name", str(value))


def _check_string(key: str, value: str, where: str) -> None:
    if key in _NAME_KEYS:
        _check_name(value, where)
    elif key == "expr_str":
        if not is_safe_expression(value):
            raise _refuse(where, "a shape expression", value)
    elif key in ("target", "as_operator"):
        if not is_allowed_target(value):
            raise _refuse(where, "an operator", value)
    elif key in ("in_spec", "out_spec"):
        _check_tree_spec(value, where)
    elif key == "class_fqn":
        raise _refuse(where, "a custom class", value)


def check_program(program: Any, *, where: str, budget: ParseBudget) -> None:
    """Refuse a parsed ``models/*.json`` program whose strings could make torch run code.

    ``where`` names the member in messages. Walks the whole program without recursion and
    checks ``budget`` as it goes.
    """
    if not isinstance(program, dict):
        raise ModelFileError(f"The torch.export program {where} is not a JSON object.")
    guards = program.get("guards_code") or []
    if not isinstance(guards, list):
        raise _refuse(where, "guards", str(guards))
    for guard in guards:
        if not (isinstance(guard, str) and is_safe_guard(guard)):
            raise _refuse(where, "a guard", str(guard))
    stack: list[tuple[str, Any]] = [("", program)]
    visited = 0
    while stack:
        key, value = stack.pop()
        visited += 1
        if visited % 4096 == 0:
            budget.check()
        if isinstance(value, dict):
            if key in _NAMED_DICT_KEYS:
                for name in value:
                    _check_name(name, where)
            stack.extend((child_key, child) for child_key, child in value.items() if child_key != "metadata")
        elif isinstance(value, list):
            if key in _NAME_LIST_KEYS:
                for name in value:
                    _check_name(name, where)
            stack.extend((key, child) for child in value)
        elif isinstance(value, str):
            _check_string(key, value, where)
