"""The maintainers' status page: the queue, the workers and recent failures (``/status/``)."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from touchstone.submissions.status import may_see_status, queue_status


@never_cache
def status_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not may_see_status(request.user):
        return render(request, "front/status_refused.html", status=403)
    return render(request, "front/status.html", {"status": queue_status(request.user)})
