"""Sign-up, log-in and the API token page, each throttled; logout by POST, with a page for a GET."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from touchstone.accounts.forms import SignupForm, ThrottledAuthenticationForm
from touchstone.accounts.throttling import (
    TOKEN_PAGE_LIMIT,
    Limit,
    client_address,
    login_limits,
    signup_limit,
)

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
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.username}. Your API token is below.")
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


class LogoutView(auth_views.LogoutView):
    """Django's logout, which only a POST performs, with a page for a GET instead of a bare 405.

    A link followed by a browser, a crawler or an image tag must not log anyone out, so a GET
    shows a button that sends the POST (with its CSRF token) rather than logging out itself.
    """

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return render(request, "accounts/logout.html")
