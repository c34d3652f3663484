"""Serve plotly.js from the plotly package as ``vendor/plotly.min.js`` (no CDN, no copy in git)."""

from __future__ import annotations

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_DIR = Path(plotly.__file__).resolve().parent / "package_data"
SERVED = {"vendor/plotly.min.js": "plotly.min.js"}


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=str(PLOTLY_DIR))
        # collectstatic keeps the path relative to the storage; prefix it under vendor/.
        self.storage.prefix = "vendor"

    def check(self, **kwargs) -> list:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs):
        if path in SERVED:
            found = str(PLOTLY_DIR / SERVED[path])
            return [found] if find_all or kwargs.get("all") else found
        return [] if find_all or kwargs.get("all") else None

    def list(self, ignore_patterns):
        for name in SERVED.values():
            yield name, self.storage
