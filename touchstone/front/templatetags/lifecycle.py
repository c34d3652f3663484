"""The deprecated banner and the maintainers' life-cycle buttons on a version's pages."""

from __future__ import annotations

from django import template

from touchstone.benchmarks import permissions
from touchstone.rankings.lifecycle import freeze_would_expose

register = template.Library()


@register.inclusion_tag("front/lifecycle/banner.html")
def version_banner(version) -> dict:
    """A banner on every page of a deprecated version."""
    return {"version": version}


@register.inclusion_tag("front/lifecycle/panel.html", takes_context=True)
def lifecycle_panel(context, version) -> dict:
    """Freeze, deprecate and new-draft buttons, for the benchmark's maintainers only."""
    request = context.get("request")
    user = getattr(request, "user", None)
    benchmark = version.benchmark
    if user is None or not permissions.may(user, "freeze", benchmark):
        return {"show": False}
    drafts = benchmark.versions.filter(status="draft").order_by("-created_at")
    return {
        "show": True,
        "version": version,
        "benchmark": benchmark,
        "drafts": drafts,
        "csrf_token": context.get("csrf_token"),
        "can_freeze": version.status == "published",
        "can_deprecate": version.status in {"published", "frozen"},
        "freeze_exposes": freeze_would_expose(version),
    }
