from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "touchstone.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib import admin

        from touchstone import security  # noqa: F401  (registers the deployment check)
        from touchstone.accounts.forms import ThrottledAdminAuthenticationForm

        # The admin's log-in page is a second door to every account: it gets the same limits.
        admin.site.login_form = ThrottledAdminAuthenticationForm
