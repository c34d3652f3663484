from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("leaderboard.api.urls")),
    path("accounts/", include("leaderboard.accounts.urls")),
    path("", include("leaderboard.front.urls")),
]

# Scripts reading the API get JSON in its one error shape for an unknown URL too.
handler404 = "leaderboard.api.errors.not_found"
