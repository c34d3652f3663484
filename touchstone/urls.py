from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView

from touchstone.front.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("touchstone.api.urls")),
    path("accounts/", include("touchstone.accounts.urls")),
    path("healthz", healthz, name="healthz"),
    # Browsers and feed readers ask for /favicon.ico whatever the page links; the icon is a static SVG.
    path("favicon.ico", RedirectView.as_view(url=static("touchstone/favicon.svg")), name="favicon"),
    path("", include("touchstone.front.urls")),
]

# Scripts reading the API get JSON in its one error shape for an unknown URL too.
handler404 = "touchstone.api.errors.not_found"
handler500 = "touchstone.api.errors.server_error"
handler400 = "touchstone.api.errors.bad_request"
handler403 = "touchstone.api.errors.permission_denied"
