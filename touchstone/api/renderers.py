"""CSV for leaderboard downloads (``?format=csv``)."""

from __future__ import annotations

import csv
import io

from rest_framework.renderers import BaseRenderer

from touchstone.rankings.queries import leaderboard_rows

# A spreadsheet reads a cell that starts with one of these as a formula (tab and carriage
# return can hide one), so a model named =HYPERLINK(...) would run in a visitor's spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """Prefix text that a spreadsheet would run as a formula with ``'``, as OWASP recommends.

    Numbers are left alone: a negative score is data, and quoting it would turn it into text.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class LeaderboardCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        buffer = io.StringIO()
        if not isinstance(data, dict) or "entries" not in data:
            # Errors (for example a 404) are rendered as a one-column CSV rather than failing.
            detail = data.get("detail", "") if isinstance(data, dict) else data
            csv.writer(buffer, lineterminator="\n").writerows([["detail"], [spreadsheet_safe(str(detail))]])
            return buffer.getvalue().encode()
        rows = leaderboard_rows(data)
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
        return buffer.getvalue().encode()
