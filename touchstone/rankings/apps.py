from __future__ import annotations

from django.apps import AppConfig


class RankingsConfig(AppConfig):
    name = "touchstone.rankings"
    label = "rankings"
