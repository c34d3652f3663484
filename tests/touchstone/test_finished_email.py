"""An email when an evaluation finishes, for researchers who ask for it; a failed mail fails nothing."""

from __future__ import annotations

from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client

from tests.security.models import build_raising_model
from tests.touchstone.conftest import api_client_for
from tests.touchstone.ledger import capture_enqueued
from tests.touchstone.test_api_submissions import post_model
from touchstone.submissions.models import Submission
from touchstone.tasks import evaluate_submission


class UnreachableMailServer(BaseEmailBackend):
    """A mail server that refuses every message, as one that is down would."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("the mail server is down")


def opt_in(user, wanted: bool = True) -> None:
    page = Client()
    page.force_login(user)
    page.post("/accounts/settings/", {"action": "notifications", **({"email_on_finish": "on"} if wanted else {})})


def failing_submission(version, user, tmp_path) -> int:
    return post_model(api_client_for(user), version, build_raising_model(tmp_path).read_bytes()).json()["id"]


def test_a_researcher_who_opted_in_gets_an_email_when_the_run_finishes(
    version, researcher, other_researcher, tmp_path, monkeypatch
):
    capture_enqueued(monkeypatch)
    opt_in(researcher)
    opt_in(other_researcher, wanted=False)
    mine = failing_submission(version, researcher, tmp_path)
    theirs = failing_submission(version, other_researcher, tmp_path)
    assert evaluate_submission.run(mine) == "failed"
    assert evaluate_submission.run(theirs) == "failed"
    assert [message.to for message in mail.outbox] == [["ada@example.org"]]
    message = mail.outbox[0]
    assert f"#{mine}" in message.subject and "failed" in message.subject
    assert f"/submissions/{mine}/" in message.body and "model_raised" in message.body


def test_a_mail_server_that_is_down_does_not_fail_the_run(version, researcher, tmp_path, monkeypatch, settings):
    capture_enqueued(monkeypatch)
    settings.EMAIL_BACKEND = f"{__name__}.UnreachableMailServer"
    opt_in(researcher)
    created = failing_submission(version, researcher, tmp_path)
    assert evaluate_submission.run(created) == "failed"
    assert Submission.objects.get(pk=created).error_code == "model_raised"
