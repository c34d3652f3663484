"""The item telemetry page of a version, for its benchmark's maintainers only."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.telemetry import MINIMUM_ENTRIES, item_telemetry

#: Rows of the table of items that are not flagged, least discriminating first.
SHOWN_UNFLAGGED = 50


def item_telemetry_page(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = get_object_or_404(
        BenchmarkVersion.objects.visible().select_related("benchmark"), benchmark__slug=slug, version=version
    )
    # The fit names hidden items and how every entry did on each: maintainers only. Nothing on
    # the answer to anyone else depends on the version's data, not even whether it has enough entries.
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not found.benchmark.is_maintained_by(request.user):
        return render(
            request, "front/telemetry_refused.html", {"version": found, "benchmark": found.benchmark}, status=403
        )
    telemetry = item_telemetry(found)
    context = {"version": found, "benchmark": found.benchmark, "telemetry": telemetry, "minimum": MINIMUM_ENTRIES}
    if telemetry["ready"]:
        items = telemetry["items"]
        flagged = [item for item in items if item["possibly_mislabelled"]]
        flagged.sort(key=lambda item: (not item["all_wrong"], item["discrimination"] or 0.0))
        fitted = [item for item in items if item["discrimination"] is not None and not item["possibly_mislabelled"]]
        fitted.sort(key=lambda item: item["discrimination"])
        context |= {"flagged": flagged, "weakest": fitted[:SHOWN_UNFLAGGED]}
    return render(request, "front/telemetry.html", context)
