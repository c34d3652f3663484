"""Sign-up, log-in and the API token page, each throttled; logout by POST, with a page for a GET;
email confirmation and the account's settings."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from touchstone.accounts.confirmation import confirm, is_confirmed, send_change_confirmation, send_confirmation
from touchstone.accounts.forms import EmailChangeForm, SignupForm, ThrottledAuthenticationForm
from touchstone.accounts.models import Profile
from touchstone.accounts.throttling import (
    PASSWORD_RESET_LIMIT,
    RESEND_LIMIT,
    TOKEN_PAGE_LIMIT,
    Limit,
    client_address,
    login_limits,
    signup_limit,
)

logger = logging.getLogger(__name__)

TOO_MANY_REQUESTS = 429


def _too_many(response: HttpResponse, limit: Limit) -> HttpResponse:
    """Mark a page as refused for throttling, telling clients the longest wait."""
    response.status_code = TOO_MANY_REQUESTS
    response["Retry-After"] = str(limit.seconds)
    return response


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "accounts/signup.html", {"form": SignupForm()})
    limit, address = signup_limit(), client_address(request)
    if limit.is_exhausted(address):
        refusal = f"Too many sign-up attempts from your network. Try again in {limit.wait_text}."
        page = render(request, "accounts/signup.html", {"form": SignupForm(), "refusal": refusal})
        return _too_many(page, limit)
    # Every attempt counts, not only successful ones: each one tells whether a name is free.
    limit.count(address)
    form = SignupForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                user = form.save()
        except IntegrityError:
            # Someone took the name between the check and the insert.
            form.reject_username()
        else:
            Profile.objects.create(user=user)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            _send_confirmation(request, user)
            messages.success(
                request,
                f"Welcome, {user.username}. We sent a link to {user.email}: open it to confirm your address before "
                "you submit. Your API token is below.",
            )
            return redirect("accounts:token")
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's log-in page with a limit on failed attempts per address and per username."""

    template_name = "accounts/login.html"
    form_class = ThrottledAuthenticationForm

    def form_invalid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.throttled:
            return _too_many(response, login_limits()[0])
        return response


@login_required
@require_http_methods(["GET", "POST"])
def token(request: HttpRequest) -> HttpResponse:
    key = str(request.user.pk)
    if TOKEN_PAGE_LIMIT.is_exhausted(key):
        message = f"The API token page was opened too often. Try again in {TOKEN_PAGE_LIMIT.wait_text}."
        return _too_many(render(request, "throttled.html", {"message": message}), TOKEN_PAGE_LIMIT)
    TOKEN_PAGE_LIMIT.count(key)
    if request.method == "POST":
        # Regenerating invalidates the old token at once: scripts using it must be updated.
        Token.objects.filter(user=request.user).delete()
        messages.success(request, "A new token was created; the old one no longer works.")
        return redirect("accounts:token")
    api_token, _ = Token.objects.get_or_create(user=request.user)
    return render(request, "accounts/token.html", {"token": api_token.key})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, with a limit per address: each request can mail an inbox."""

    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password-reset-sent")

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        address = client_address(request)
        if PASSWORD_RESET_LIMIT.is_exhausted(address):
            message = f"Too many password resets were asked for from your network. Try again in {PASSWORD_RESET_LIMIT.wait_text}."
            return _too_many(render(request, "throttled.html", {"message": message}), PASSWORD_RESET_LIMIT)
        PASSWORD_RESET_LIMIT.count(address)
        return super().post(request, *args, **kwargs)


class LogoutView(auth_views.LogoutView):
    """Django's logout, which only a POST performs, with a page for a GET instead of a bare 405.

    A link followed by a browser, a crawler or an image tag must not log anyone out, so a GET
    shows a button that sends the POST (with its CSRF token) rather than logging out itself.
    """

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return render(request, "accounts/logout.html")


def _send_confirmation(request: HttpRequest, user) -> bool:
    """Mail the confirmation link; a mail server that fails is reported, never a crash."""
    try:
        send_confirmation(request, user)
    except Exception:
        logger.exception("the confirmation email to user %s could not be sent", user.pk)
        messages.error(request, "The confirmation email could not be sent just now; send it again in a few minutes.")
        return False
    return True


def confirm_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link sent by email: confirms the address it names, for whoever opens it."""
    user = confirm(token)
    if user is None:
        return render(request, "accounts/confirm_failed.html", status=400)
    messages.success(request, f"Your email address {user.email} is confirmed: you can submit models now.")
    return redirect("accounts:settings" if request.user.is_authenticated else "accounts:login")


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request: HttpRequest) -> HttpResponse:
    """The researcher's address (confirmed or not, with a re-send) and the email they want."""
    profile = Profile.objects.filter(user=request.user).first()
    confirmed = is_confirmed(request.user)
    if request.method == "POST" and request.POST.get("action") == "resend" and not confirmed:
        key = str(request.user.pk)
        if RESEND_LIMIT.is_exhausted(key):
            messages.error(request, f"The link was sent several times already. Try again in {RESEND_LIMIT.wait_text}.")
        else:
            RESEND_LIMIT.count(key)
            if _send_confirmation(request, request.user):
                messages.success(request, f"A new link was sent to {request.user.email}.")
        return redirect("accounts:settings")
    change_form = EmailChangeForm(request.user)
    if request.method == "POST" and request.POST.get("action") == "change-email":
        change_form = EmailChangeForm(request.user, request.POST)
        # The same budget as re-sent links: each one is a mail the site sends on the researcher's word.
        key = str(request.user.pk)
        if RESEND_LIMIT.is_exhausted(key):
            messages.error(request, f"Several links were sent already. Try again in {RESEND_LIMIT.wait_text}.")
            return redirect("accounts:settings")
        if change_form.is_valid():
            RESEND_LIMIT.count(key)
            new_email = change_form.cleaned_data["new_email"]
            try:
                send_change_confirmation(request, request.user, new_email)
            except Exception:
                logger.exception("the change-of-address email to user %s could not be sent", request.user.pk)
                messages.error(request, "The email could not be sent just now; try again in a few minutes.")
            else:
                messages.success(
                    request,
                    f"A link was sent to {new_email}. Your address changes when you open it; until then it stays "
                    f"{request.user.email}.",
                )
            return redirect("accounts:settings")
    if request.method == "POST" and request.POST.get("action") == "notifications":
        if profile is None:
            # An operator-made account gets its profile when it first chooses a setting.
            profile = Profile.objects.create(user=request.user, email_confirmed_at=timezone.now())
        profile.email_on_finish = request.POST.get("email_on_finish") == "on"
        profile.save(update_fields=["email_on_finish"])
        messages.success(request, "Your email settings are saved.")
        return redirect("accounts:settings")
    context = {
        "confirmed": confirmed,
        "email_on_finish": bool(profile and profile.email_on_finish),
        "change_form": change_form,
    }
    return render(request, "accounts/settings.html", context)
