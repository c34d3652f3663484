from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("touchstone.api.urls")),
    path("accounts/", include("touchstone.accounts.urls")),
    path("", include("touchstone.front.urls")),
]

# Scripts reading the API get JSON in its one error shape for an unknown URL too.
handler404 = "touchstone.api.errors.not_found"
