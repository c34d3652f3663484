"""The ``id`` path converter: a row id every supported database can look up.

Django's ``int`` converter takes any run of digits, and a number past the 64-bit range makes
SQLite raise an overflow error (a 500) instead of finding nothing. ``id`` matches 1 to 19
digits and rejects values past the largest 64-bit id, so such a URL is simply not found (404).
"""

from __future__ import annotations

from django.urls import register_converter

MAX_ID = 2**63 - 1
"""The largest value of a 64-bit signed primary key (SQLite and PostgreSQL ``bigint``)."""


def valid_id(value: int) -> bool:
    """True if ``value`` can be a row's id: positive and within 64 bits."""
    return 0 < value <= MAX_ID


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not valid_id(number):
            # A ValueError makes Django try the next pattern, and end in a 404.
            raise ValueError(f"{value} is not a valid id")
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


register_converter(IdConverter, "id")
