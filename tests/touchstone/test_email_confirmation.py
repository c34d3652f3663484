"""Accounts confirm their email address before they submit; passwords can be reset by email."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from tests.touchstone.conftest import api_client_for
from tests.touchstone.test_api_submissions import post_model
from touchstone.submissions.models import Submission

PASSWORD = "compilers-1952-x"


def sign_up(client: Client, username: str = "hopper") -> None:
    response = client.post(
        "/accounts/signup/",
        {"username": username, "email": f"{username}@example.org", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302, response.content


def link_in(message) -> str:
    found = re.search(r"https?://[^/\s]+(/\S+)", message.body)
    assert found, message.body
    return found.group(1)


def test_a_new_account_confirms_its_address_before_it_can_submit(version, good_model_bytes, empty_cache):
    client = Client()
    sign_up(client)
    user = get_user_model().objects.get(username="hopper")
    assert [message.to for message in mail.outbox] == [["hopper@example.org"]]

    page = client.get("/benchmarks/digits/1.0.0/submit/").content.decode()
    assert 'id="unconfirmed"' in page and '<form method="post" enctype' not in page
    refused = post_model(api_client_for(user), version, good_model_bytes)
    assert refused.status_code == 403 and "confirm your email address" in refused.json()["detail"]
    assert "/accounts/settings/" in refused.json()["detail"]
    assert Submission.objects.count() == 0

    # Sent again on request, a few times at most; the newest link confirms.
    for _ in range(4):
        client.post("/accounts/settings/", {"action": "resend"})
    assert len(mail.outbox) == 4
    confirmed = client.get(link_in(mail.outbox[-1]), follow=True).content.decode()
    assert "is confirmed" in confirmed
    assert post_model(api_client_for(user), version, good_model_bytes).status_code == 201


def test_a_tampered_or_stale_link_confirms_nothing(db, empty_cache):
    client = Client()
    sign_up(client)
    link = link_in(mail.outbox[0])
    assert client.get(link[:-3] + "xyz/").status_code == 400
    user = get_user_model().objects.get(username="hopper")
    user.email = "someone-else@example.org"
    user.save()
    assert client.get(link).status_code == 400
    assert user.profile.email_confirmed_at is None


def test_a_password_is_reset_through_the_emailed_link(researcher, empty_cache):
    client = Client()
    assert "Reset it" in client.get("/accounts/login/").content.decode()
    client.post("/accounts/password-reset/", {"email": "ada@example.org"})
    assert [message.to for message in mail.outbox] == [["ada@example.org"]]
    # Django's confirm view swaps the token for a session and redirects to the form.
    form = client.get(link_in(mail.outbox[0]), follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "an-entirely-new-one-7", "new_password2": "an-entirely-new-one-7"}
    )
    assert done.status_code == 302 and done["Location"] == "/accounts/password-reset/done/"
    assert Client().login(username="ada", password="an-entirely-new-one-7")


def test_password_resets_are_limited_per_address(researcher, empty_cache):
    client = Client()
    answers = [client.post("/accounts/password-reset/", {"email": "ada@example.org"}).status_code for _ in range(6)]
    assert answers == [302] * 5 + [429]
    assert len(mail.outbox) == 5


def test_a_researcher_changes_their_address_by_opening_the_link_sent_to_the_new_one(researcher, empty_cache):
    client = Client()
    client.force_login(researcher)
    wrong = client.post(
        "/accounts/settings/",
        {"action": "change-email", "new_email": "ada@new.example.org", "password": "not-the-password"},
    )
    assert "That is not your password." in wrong.content.decode() and mail.outbox == []
    client.post(
        "/accounts/settings/",
        {"action": "change-email", "new_email": "ada@new.example.org", "password": "a-long-password-1"},
    )
    assert [message.to for message in mail.outbox] == [["ada@new.example.org"]]
    researcher.refresh_from_db()
    assert researcher.email == "ada@example.org", "the address changed before the link was opened"
    link = link_in(mail.outbox[0])
    assert Client().get(link).status_code == 302
    researcher.refresh_from_db()
    assert researcher.email == "ada@new.example.org" and researcher.profile.email_confirmed_at is not None
    # The link moved the account once; opened again, or after another change, it does nothing.
    researcher.email = "ada@third.example.org"
    researcher.save()
    assert Client().get(link).status_code == 400
    researcher.refresh_from_db()
    assert researcher.email == "ada@third.example.org"


def test_changes_of_address_share_the_limit_of_re_sent_links(researcher, empty_cache):
    client = Client()
    client.force_login(researcher)
    for n in range(5):
        client.post(
            "/accounts/settings/",
            {"action": "change-email", "new_email": f"ada{n}@example.org", "password": "a-long-password-1"},
        )
    assert len(mail.outbox) == 3
