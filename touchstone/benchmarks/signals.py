"""Signals the benchmarks app sends; apps further up the import order act on them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once a version's publication has committed, with ``version=`` the newly open version and
# ``previous=`` the version it supersedes (None for a benchmark's first). Receivers run after the
# commit, so whatever they queue sees the published row.
version_published = Signal()
