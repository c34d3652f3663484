"""A URL configuration with no routes, for pages that must answer when the real one fails."""

from __future__ import annotations

urlpatterns: list = []
