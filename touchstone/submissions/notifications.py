"""The email a researcher may ask for when one of their evaluations finishes.

Sent by the worker once the run is recorded (``touchstone.tasks.evaluate_submission``), only
to researchers who opted in on their settings page (``accounts.Profile.email_on_finish``). It
says what the submission's page says and nothing more: no score of the hidden split, which the
Ladder may not release. A mail server that fails is logged and never fails the run.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.mail import send_mail

from touchstone.submissions.models import Submission

logger = logging.getLogger(__name__)


def wants_email(user) -> bool:
    """Whether ``user`` opted in, read through the user's profile (none: not opted in)."""
    try:
        return bool(user.profile.email_on_finish) and bool(user.email)
    except ObjectDoesNotExist:
        return False


def finished_message(submission: Submission) -> tuple[str, str]:
    """The subject and body of the email about a finished ``submission``."""
    page = f"{settings.SITE_URL.rstrip('/')}{submission.get_absolute_url()}"
    what = f"Submission #{submission.pk} ({submission.model_name}) to {submission.version}"
    if submission.status == Submission.Status.SCORED:
        subject = f"{what} is scored"
        body = (
            f"{what} is scored. Its page shows what the Ladder released of it once the leaderboard is "
            f"recomputed, in a moment:\n\n{page}\n"
        )
    else:
        subject = f"{what} failed"
        body = f"{what} failed ({submission.error_code}):\n\n{submission.error_message}\n\nIts page: {page}\n"
    footer = "\nYou get this email because you asked for it in your account settings; turn it off there.\n"
    return subject, body + footer


def notify_finished(submission_id: int) -> bool:
    """Mail the owner of a scored or failed submission if they opted in; True if a mail went out."""
    try:
        submission = Submission.objects.select_related("owner", "version__benchmark").get(pk=submission_id)
        if submission.status not in {Submission.Status.SCORED, Submission.Status.FAILED}:
            return False
        if submission.is_background or not wants_email(submission.owner):
            return False
        subject, body = finished_message(submission)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [submission.owner.email])
    except Exception:
        # The run is recorded whatever happens to the mail.
        logger.exception("the email about finished submission %s could not be sent", submission_id)
        return False
    return True
