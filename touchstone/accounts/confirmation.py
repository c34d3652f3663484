"""Confirming a researcher's email address with a signed link, before they may submit.

The link carries the account and the address, signed with the site's secret and a timestamp
(``django.core.signing``): it works for ``CONFIRMATION_DAYS`` days, and not at all once the
address changed. Mail goes through Django's email backend (the console by default, SMTP when
``EMAIL_HOST`` is set).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import send_mail
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from touchstone.accounts.models import Profile

logger = logging.getLogger(__name__)

SALT = "touchstone.accounts.email-confirmation"
CONFIRMATION_DAYS = 3


def is_confirmed(user) -> bool:
    """Whether ``user`` may submit: confirmed, or made by an operator (no profile)."""
    if not user.is_authenticated:
        return False
    profile = Profile.objects.filter(user=user).first()
    return profile is None or profile.email_confirmed_at is not None


def make_token(user) -> str:
    return signing.dumps({"user": user.pk, "email": user.email}, salt=SALT, compress=True)


def make_change_token(user, new_email: str) -> str:
    """A link that moves ``user`` from their current address to ``new_email`` when opened."""
    return signing.dumps({"user": user.pk, "email": new_email, "from": user.email}, salt=SALT, compress=True)


def confirm(token: str):
    """Confirm the address the token names; returns the user, or None for a bad or expired link.

    A link made for a change of address (it names the address it changes ``from``) switches the
    account to the new address, confirmed, only while the account still has the old one: a
    second change, or a change made another way since, leaves the link worthless.
    """
    try:
        claim = signing.loads(token, salt=SALT, max_age=CONFIRMATION_DAYS * 24 * 3600)
    except signing.BadSignature:
        return None
    user = get_user_model().objects.filter(pk=claim.get("user")).first()
    if user is None or user.email != claim.get("from", claim.get("email")):
        return None
    profile, _ = Profile.objects.get_or_create(user=user)
    if "from" in claim:
        user.email = claim["email"]
        user.save(update_fields=["email"])
        profile.email_confirmed_at = timezone.now()
        profile.save(update_fields=["email_confirmed_at"])
    elif profile.email_confirmed_at is None:
        profile.email_confirmed_at = timezone.now()
        profile.save(update_fields=["email_confirmed_at"])
    return user


def send_confirmation(request: HttpRequest, user) -> None:
    """Mail the confirmation link to the user's address."""
    link = request.build_absolute_uri(reverse("accounts:confirm-email", args=[make_token(user)]))
    send_mail(
        "Confirm your email address for Touchstone",
        f"Hello {user.username},\n\nopen this link to confirm your address and start submitting models:\n\n"
        f"{link}\n\nThe link works for {CONFIRMATION_DAYS} days. If you did not sign up, ignore this message.\n",
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )


def send_change_confirmation(request: HttpRequest, user, new_email: str) -> None:
    """Mail ``new_email`` the link that makes it the account's address."""
    link = request.build_absolute_uri(reverse("accounts:confirm-email", args=[make_change_token(user, new_email)]))
    send_mail(
        "Confirm your new email address for Touchstone",
        f"Hello {user.username},\n\nopen this link to make {new_email} the address of your Touchstone account:\n\n"
        f"{link}\n\nThe link works for {CONFIRMATION_DAYS} days. Until you open it, your account keeps its "
        "current address. If you did not ask for this, ignore this message.\n",
        settings.DEFAULT_FROM_EMAIL,
        [new_email],
    )
