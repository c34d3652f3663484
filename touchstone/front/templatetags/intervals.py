"""Template filters that look a metric's interval up by its name."""

from __future__ import annotations

from django import template

from touchstone.front.summary import MISSING, number, two_figures

register = template.Library()


@register.filter
def interval_of(metrics: dict | None, name: str) -> dict | None:
    """The ``{value, ci_low, ci_high}`` of metric ``name`` in an entry's ``metrics``, or None.

    Tables take their columns from the spec's list of metrics and must fetch each cell by name:
    PostgreSQL stores ``metrics`` as ``jsonb``, which gives keys back in its own order (shorter
    keys first), so walking the dict would put one metric's number under another's header.
    """
    if not metrics:
        return None
    return metrics.get(name)


@register.filter
def index(rows: list | None, position: int) -> object:
    """Row ``position`` of a list, for tables drawn from a list of lists (a confusion matrix)."""
    if not rows or position >= len(rows):
        return None
    return rows[position]


@register.filter
def with_interval(found: dict | None, digits: int | str = 4) -> str:
    """A ``{value, low, high}`` as "0.8123 [0.8010, 0.8230]", or "—" when it is missing.

    The breakdowns give every proportion this shape; a null value means "not available".
    ``digits`` is the number of decimals, or ``"figures"`` for two significant figures.
    """
    if not found or found.get("value") is None:
        return MISSING
    places = None if digits == "figures" else int(digits)
    text = number(found["value"], places)
    if found.get("low") is not None and found.get("high") is not None:
        text += f" [{number(found['low'], places)}, {number(found['high'], places)}]"
    return text


@register.filter
def figures(value: float | None) -> str:
    """A number to two significant figures (the coarse cost figures), or "—"."""
    return MISSING if value is None else two_figures(value)


@register.filter
def lookup(mapping: dict | None, key: str) -> object:
    """``mapping[key]``, or None: a template cannot index a dict by a variable."""
    if not mapping:
        return None
    return mapping.get(key)
