"""The maintainers' pages: a new draft, its review, and the buttons that change a version's status.

Every view checks the acting user with ``touchstone.benchmarks.permissions`` (anonymous users
are sent to log in, everyone else who may not act gets a 403), and every status change is a
POST with a CSRF token.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from evaluation.errors import SpecError
from touchstone.benchmarks import permissions, services
from touchstone.benchmarks.models import Benchmark, BenchmarkVersion, ImmutableVersionError
from touchstone.front.draft_upload import ArchiveRejected, unpack_folder
from touchstone.front.forms import DraftForm
from touchstone.rankings import lifecycle
from touchstone.rankings.reevaluation import reevaluation_origins


def _any_version(slug: str, version: str) -> BenchmarkVersion:
    return get_object_or_404(
        BenchmarkVersion.objects.select_related("benchmark"), benchmark__slug=slug, version=version
    )


@login_required
@require_http_methods(["GET", "POST"])
def new_draft(request: HttpRequest, slug: str) -> HttpResponse:
    benchmark = get_object_or_404(Benchmark, slug=slug)
    permissions.require(request.user, "create_draft", benchmark)
    form = DraftForm(request.POST or None, request.FILES or None)
    review = None
    if request.method == "POST" and form.is_valid():
        with tempfile.TemporaryDirectory(prefix="touchstone-draft-") as workdir:
            try:
                folder = unpack_folder(form.cleaned_data["folder"], Path(workdir) / "folder")
                draft = services.create_draft(
                    folder=folder,
                    user=request.user,
                    keep_exposed_hidden=form.cleaned_data["keep_exposed_hidden"],
                    slug=benchmark.slug,
                )
            except services.ReviewFailed as failure:
                review = failure.review
                form.add_error(None, f"The draft was not stored: {failure}")
            except (ArchiveRejected, SpecError) as error:
                form.add_error("folder", str(error))
            else:
                messages.success(request, f"Stored the draft {draft}; review it below before publishing.")
                return redirect("front:review", benchmark.slug, draft.version)
    return render(request, "front/lifecycle/new_draft.html", {"benchmark": benchmark, "form": form, "review": review})


@login_required
def review(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = _any_version(slug, version)
    permissions.require(request.user, "view_draft", found.benchmark)
    if not found.is_draft:
        messages.info(request, f"{found} is {found.status}; only drafts are reviewed.")
        return redirect(found)
    # Publishing supersedes the benchmark's newest visible version, whose entries and pinned
    # baselines are then re-evaluated on the draft: the maintainer sees which before pressing it.
    previous = found.benchmark.latest_version
    context = {
        "version": found,
        "benchmark": found.benchmark,
        "review": services.current_review(found),
        "previous": previous,
        "reevaluated": reevaluation_origins(previous) if previous is not None else [],
    }
    return render(request, "front/lifecycle/review.html", context)


@login_required
@require_POST
def publish(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = _any_version(slug, version)
    permissions.require(request.user, "publish", found.benchmark)
    try:
        services.publish_draft(version=found, user=request.user)
    except services.ReviewFailed as failure:
        messages.error(request, f"{found} was not published: {failure}")
        return redirect("front:review", slug, version)
    except ImmutableVersionError as error:
        messages.error(request, str(error))
        return redirect(found)
    messages.success(request, f"Published {found}.")
    return redirect(found)


@login_required
@require_POST
def discard(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = _any_version(slug, version)
    permissions.require(request.user, "discard_draft", found.benchmark)
    try:
        services.discard_draft(version=found, user=request.user)
    except ImmutableVersionError as error:
        messages.error(request, str(error))
        return redirect(found)
    messages.success(request, f"Discarded the draft {found}.")
    latest = found.benchmark.latest_version
    return redirect(latest if latest is not None else "front:home")


def _status_change(request: HttpRequest, slug: str, version: str, action: str, change, done: str) -> HttpResponse:
    """Check ``action`` for the user, apply ``change`` to the version and say what happened."""
    found = _any_version(slug, version)
    permissions.require(request.user, action, found.benchmark)
    try:
        change(version=found, user=request.user)
    except ImmutableVersionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done.format(version=found))
    return redirect(found)


@login_required
@require_POST
def freeze(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    return _status_change(
        request, slug, version, "freeze", lifecycle.freeze, "{version} is frozen; its final leaderboard is published."
    )


@login_required
@require_POST
def deprecate(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    return _status_change(request, slug, version, "deprecate", lifecycle.deprecate, "{version} is deprecated.")
