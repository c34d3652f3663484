"""Reading a stored JSON record back, field by field, with messages that name the field at fault.

A record's ``from_dict`` wraps its JSON in ``Fields`` and asks for each field with the type it
must have (``fields.text("sha256")``, ``fields.optional_count("parameter_count")``); the first
field that is missing, unexpected or of the wrong type raises ``RecordError`` saying which field
of which record it is, what it must be and what was found.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TypeGuard


class RecordError(ValueError):
    """A stored record is not one its ``to_dict`` wrote; the message names the field at fault."""


class Fields:
    """One JSON object of a record being read; each getter checks the type of one field.

    ``record`` and ``path`` name the object in messages ("public provenance record", "cost"),
    and ``keys`` are exactly the fields it must have: a missing or an unexpected field is an
    error, so a record that reads back writes back the same JSON.
    """

    def __init__(self, data: object, record: str, path: str, keys: tuple[str, ...]) -> None:
        self.record, self.path = record, path
        where = f"{record}: {path}" if path else record
        if not isinstance(data, Mapping):
            raise RecordError(f"{where} must be a JSON object, got {_shown(data)}")
        unknown = [str(key) for key in data if key not in keys]
        if unknown:
            raise RecordError(f"{where} has the unexpected field {unknown[0]!r}; its fields are {', '.join(keys)}")
        missing = [key for key in keys if key not in data]
        if missing:
            raise RecordError(f"{where} lacks the field {missing[0]!r}")
        self._data: Mapping[str, object] = data

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _wrong(self, key: str, expected: str) -> RecordError:
        return RecordError(f"{self.record}: {self._name(key)} must be {expected}, got {_shown(self._data[key])}")

    def section(self, key: str, keys: tuple[str, ...]) -> Fields:
        """The JSON object under ``key``, with exactly the fields ``keys``."""
        return Fields(self._data[key], self.record, self._name(key), keys)

    def text(self, key: str) -> str:
        """The string under ``key``."""
        value = self._data[key]
        if not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def count(self, key: str) -> int:
        """The whole number, 0 or more, under ``key``."""
        value = self._data[key]
        if not _is_count(value):
            raise self._wrong(key, "a whole number, 0 or more")
        return value

    def optional_count(self, key: str) -> int | None:
        """The whole number, 0 or more, or ``None`` (JSON null) under ``key``."""
        value = self._data[key]
        if value is None:
            return None
        if not _is_count(value):
            raise self._wrong(key, "a whole number, 0 or more, or null")
        return value

    def optional_number(self, key: str) -> float | None:
        """The finite number, as a float, or ``None`` under ``key``."""
        value = self._data[key]
        if value is None:
            return None
        if not _is_number(value):
            raise self._wrong(key, "a finite number or null")
        return float(value)

    def texts(self, key: str) -> tuple[str, ...]:
        """The list of strings under ``key``, as a tuple."""
        value = self._data[key]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._wrong(key, "a list of strings")
        return tuple(value)

    def optional_numbers(self, key: str) -> tuple[float | None, ...]:
        """The list of finite numbers (as floats) and nulls under ``key``, as a tuple."""
        value = self._data[key]
        if not isinstance(value, list) or not all(item is None or _is_number(item) for item in value):
            raise self._wrong(key, "a list of finite numbers or nulls")
        return tuple(None if item is None else float(item) for item in value)

    def text_map(self, key: str) -> dict[str, str]:
        """The JSON object of strings under ``key``."""
        value = self._data[key]
        if not isinstance(value, Mapping) or not all(isinstance(item, str) for item in value.values()):
            raise self._wrong(key, "an object of strings")
        return {str(name): item for name, item in value.items()}

    def count_map(self, key: str) -> dict[str, int]:
        """The JSON object of whole numbers, 0 or more, under ``key``."""
        value = self._data[key]
        if not isinstance(value, Mapping) or not all(_is_count(item) for item in value.values()):
            raise self._wrong(key, "an object of whole numbers, 0 or more")
        return {str(name): item for name, item in value.items()}

    def number_map(self, key: str) -> dict[str, float]:
        """The JSON object of finite numbers under ``key``, as floats."""
        value = self._data[key]
        if not isinstance(value, Mapping) or not all(_is_number(item) for item in value.values()):
            raise self._wrong(key, "an object of finite numbers")
        return {str(name): float(item) for name, item in value.items()}


def _is_count(value: object) -> TypeGuard[int]:
    # bool is a subclass of int in Python, and JSON's true must not pass as 1.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value: object) -> str:
    """An offending value as JSON, shortened for messages."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
