"""Sign-up and log-in forms that neither reveal which usernames exist nor allow fast guessing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, BaseUserCreationForm
from django.core.exceptions import ValidationError

from touchstone.accounts.throttling import client_address, login_limits

# Names that would pass for the site or its maintainers on a leaderboard, where a username is
# shown as the team's name. Compared without regard to case; any name starting with
# "touchstone" is reserved too.
RESERVED_USERNAMES = frozenset(
    {
        "admin",
        "administrator",
        "api",
        "accounts",
        "baseline",
        "baselines",
        "maintainer",
        "maintainers",
        "moderator",
        "root",
        "security",
        "staff",
        "support",
        "system",
        "webmaster",
    }
)

USERNAME_REJECTED = (
    "We could not create an account with that username. Choose another one: at most 150 characters, "
    "using letters, digits and @ . + - _ only."
)


def is_reserved(username: str) -> bool:
    folded = username.casefold()
    return folded in RESERVED_USERNAMES or folded.startswith("touchstone")


class SignupForm(BaseUserCreationForm):
    """A new researcher's account.

    Every rejection of the username (taken in any letter case, reserved, malformed) gives one
    and the same message, and whether a name is taken is only looked at once everything else
    in the form is valid: the page for a taken name then reads exactly like the page for a
    malformed one, and a weak password gets the same answer whatever the name.
    """

    data: Any  # the submitted data, replaced below by a copy without a rejected username

    email = forms.EmailField(
        max_length=254, help_text="We send a link to confirm it before you can submit, and password resets."
    )

    class Meta(BaseUserCreationForm.Meta):
        fields = ("username", "email")

    def validate_unique(self) -> None:
        # Django's check would announce "A user with that username already exists."; the
        # case-insensitive check in _post_clean replaces it.
        pass

    def _post_clean(self) -> None:
        super()._post_clean()
        if not self.errors:
            username = self.cleaned_data["username"]
            taken = get_user_model().objects.filter(username__iexact=username).exists()
            if taken or is_reserved(username):
                self.add_error("username", ValidationError(USERNAME_REJECTED, code="unavailable"))
        elif "username" in self.errors:
            # Look the name up anyway, so that a malformed name costs the same query as a taken one.
            get_user_model().objects.filter(username__iexact=self.data.get("username", "")).exists()
            del self.errors["username"]
            self.add_error("username", ValidationError(USERNAME_REJECTED, code="unavailable"))
        if "username" in self.errors:
            # Do not echo a rejected name back into the form: the page stays the same for all of them.
            self.data = self.data.copy()
            self.data["username"] = ""

    def reject_username(self) -> None:
        """Mark the username unavailable after the fact (another sign-up took it first)."""
        self.add_error("username", ValidationError(USERNAME_REJECTED, code="unavailable"))
        self.data = self.data.copy()
        self.data["username"] = ""


class ThrottledAuthenticationForm(AuthenticationForm):
    """Refuses to check a password after too many failures from one address or for one username.

    While a limit is exhausted the form does not look the account up at all, so a correct
    password is refused just like a wrong one and a guesser learns nothing.
    """

    throttled = False

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()
        by_address, by_username = login_limits()
        address, name = client_address(self.request), username.casefold()
        if by_address.is_exhausted(address) or by_username.is_exhausted(name):
            self.throttled = True
            raise ValidationError(
                f"Too many failed log-ins from your network or for this username. Wait "
                f"{by_address.wait_text} and try again.",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except ValidationError as error:
            if getattr(error, "code", None) == "invalid_login":
                by_address.count(address)
                by_username.count(name)
            raise
        # The account's owner got in: earlier guesses at their password no longer hold it back.
        by_username.forget(name)
        return cleaned


class ThrottledAdminAuthenticationForm(ThrottledAuthenticationForm, AdminAuthenticationForm):
    """The admin's log-in form (staff only) with the same limits."""


class EmailChangeForm(forms.Form):
    """A new address for a signed-in researcher, who proves it is them with their password.

    The password keeps someone who only holds a signed-in browser (a shared computer) from
    moving the account's mail, and with it password resets, to an address of their own.
    """

    new_email = forms.EmailField(label="New email address", max_length=254)
    password = forms.CharField(label="Your password", strip=False, widget=forms.PasswordInput)

    def __init__(self, user, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_new_email(self) -> str:
        address = self.cleaned_data["new_email"]
        if address.casefold() == (self.user.email or "").casefold():
            raise ValidationError("That is already your address.")
        return address

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError("That is not your password.")
        return password
