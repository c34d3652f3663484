"""What the site keeps about a researcher beyond Django's user: email confirmation, mail wanted."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Profile(models.Model):
    """A researcher's settings, created at sign-up.

    An account without a profile was made by an operator (``createsuperuser``, the admin,
    ``setup_site``) or before sign-ups confirmed their address: it counts as confirmed.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    email_confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the researcher opened the link sent to their address; empty until then."
    )
    email_on_finish = models.BooleanField(
        default=False, help_text="Send an email when one of the researcher's evaluations finishes."
    )

    def __str__(self) -> str:
        return f"profile of {self.user}"
