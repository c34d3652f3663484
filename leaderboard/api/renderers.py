"""CSV for leaderboard downloads (``?format=csv``)."""

from __future__ import annotations

import csv
import io

from rest_framework.renderers import BaseRenderer

from leaderboard.rankings.queries import leaderboard_rows


class LeaderboardCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if not isinstance(data, dict) or "entries" not in data:
            # Errors (for example a 404) are rendered as a one-column CSV rather than failing.
            return f"detail\n{data.get('detail', '') if isinstance(data, dict) else data}\n".encode()
        rows = leaderboard_rows(data)
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return buffer.getvalue().encode()
