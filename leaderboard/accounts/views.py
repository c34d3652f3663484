"""Sign-up and the API token page; login and logout are Django's own views."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}. Your API token is below.")
        return redirect("accounts:token")
    return render(request, "accounts/signup.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def token(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        # Regenerating invalidates the old token at once: scripts using it must be updated.
        Token.objects.filter(user=request.user).delete()
        messages.success(request, "A new token was created; the old one no longer works.")
        return redirect("accounts:token")
    api_token, _ = Token.objects.get_or_create(user=request.user)
    return render(request, "accounts/token.html", {"token": api_token.key})
