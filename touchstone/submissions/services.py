"""Accepting uploads, withdrawing submissions and marking a team's final submissions."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from evaluation.archive import ModelFileInfo, inspect_model_file
from evaluation.errors import ModelFileError
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.storage import delete_folder, private_path, store_file
from touchstone.submissions.models import Submission
from touchstone.submissions.standing import counted_submissions, identical_submission
from touchstone.submissions.teams import uploading_team
from touchstone.uploads import mib

MODEL_SUFFIXES = {"torchscript": ".pt", "torch.export": ".pt2"}

FINAL_SUBMISSIONS_PER_TEAM = 2
"""How many submissions a team may mark final on a version; the frozen board takes the better."""


class SubmissionRejected(Exception):
    """An upload was refused; ``field`` names the form field at fault, if any."""

    def __init__(
        self, message: str, *, field: str | None = None, status: int = 400, earlier: Submission | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.earlier = earlier
        """The earlier submission of the same file, when that is why the upload was refused."""


def submissions_today(*, owner, version: BenchmarkVersion) -> int:
    """Submissions in the last 24 hours that count against the quota (``standing.counted_submissions``).

    A team's members share one quota (``standing.quota_holders``).
    """
    return counted_submissions(owner=owner, version=version).count()


def _store_upload(uploaded_file: UploadedFile) -> tuple[str, ModelFileInfo]:
    """Stream the upload into private storage and check it; returns (relative path, file info)."""
    if uploaded_file.size is not None and uploaded_file.size > settings.MAX_UPLOAD_BYTES:
        raise SubmissionRejected(
            f"the model file is {mib(uploaded_file.size)}; the limit is {mib(settings.MAX_UPLOAD_BYTES)}",
            field="model_file",
            status=413,
        )
    folder = f"submissions/{timezone.now():%Y/%m}/{secrets.token_hex(16)}"
    staging = private_path(f"{folder}/upload.partial")
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        written = 0
        with open(staging, "wb") as output:
            for chunk in uploaded_file.chunks():
                written += len(chunk)
                if written > settings.MAX_UPLOAD_BYTES:
                    raise SubmissionRejected(
                        f"the model file is larger than the {mib(settings.MAX_UPLOAD_BYTES)} limit",
                        field="model_file",
                        status=413,
                    )
                output.write(chunk)
        try:
            info = inspect_model_file(staging, max_bytes=settings.MAX_UPLOAD_BYTES)
        except ModelFileError as error:
            raise SubmissionRejected(str(error), field="model_file") from None
        relative = f"{folder}/model{MODEL_SUFFIXES.get(info.format, '.bin')}"
        staging.rename(private_path(relative))
        store_file(relative, keep_local=False)
    except BaseException:
        delete_folder(folder)
        raise
    return relative, info


def submit_model(
    *,
    owner,
    version: BenchmarkVersion,
    uploaded_file: UploadedFile,
    model_name: str,
    description: str = "",
    paper_url: str = "",
    code_url: str = "",
    team: str = "",
    is_baseline: bool = False,
) -> Submission:
    """Check and store an uploaded model and create its queued row.

    The caller queues the evaluation (``touchstone.tasks.submit``), once the row is committed.
    A researcher's upload is made for their team on the benchmark, a team of their own if they
    are in none (``touchstone.submissions.teams``); the team's members share its daily quota.
    """
    if not version.is_open:
        raise SubmissionRejected(f"{version} is {version.status} and no longer accepts submissions", field="version")
    if not is_baseline:
        _refuse_unconfirmed(owner)
    relative, info = _store_upload(uploaded_file)
    try:
        with transaction.atomic():
            # Lock the version (a freeze may have just closed it) and the researcher's row, so
            # two parallel uploads cannot both slip under the quota.
            current = BenchmarkVersion.objects.select_for_update().get(pk=version.pk)
            if not current.is_open:
                raise SubmissionRejected(
                    f"{current} is {current.status} and no longer accepts submissions", field="version"
                )
            get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
            if not is_baseline:
                # Teammates share the quota; the version's row, locked above, makes their uploads take turns.
                own_team = uploading_team(owner, version.benchmark)
                used = submissions_today(owner=owner, version=version)
                if used >= settings.SUBMISSIONS_PER_DAY:
                    raise SubmissionRejected(
                        f"daily quota reached: {used} of {settings.SUBMISSIONS_PER_DAY} submissions to {version} "
                        "in the last 24 hours (failures caused by the site and failed preflights do not count)",
                        status=429,
                    )
            # Researchers' uploads go to their team (``team`` names another only for scripts).
            team = team or (owner.get_username() if is_baseline else own_team.name)
            if not is_baseline and settings.REFUSE_IDENTICAL_UPLOADS:
                _refuse_identical(version=version, team=team, sha256=info.sha256)
            submission = Submission.objects.create(
                owner=owner,
                version=version,
                model_name=model_name,
                team=team,
                description=description,
                paper_url=paper_url,
                code_url=code_url,
                is_baseline=is_baseline,
                model_path=relative,
                model_format=info.format,
                sha256=info.sha256,
                size_bytes=info.size_bytes,
            )
    except BaseException:
        delete_folder(relative.rsplit("/", 1)[0])
        raise
    return submission


def email_unconfirmed(user) -> bool:
    """Whether ``user`` signed up and has not confirmed their address yet (``touchstone.accounts``).

    Read through the user's reverse relation: an account without a profile (made by an
    operator, or before sign-ups confirmed addresses) counts as confirmed.
    """
    try:
        return user.profile.email_confirmed_at is None
    except ObjectDoesNotExist:
        return False


def _refuse_unconfirmed(owner) -> None:
    if email_unconfirmed(owner):
        raise SubmissionRejected(
            f"confirm your email address ({owner.email}) before you submit: open the link we sent to it, or have it "
            f"sent again from {reverse('accounts:settings')}",
            status=403,
        )


def _refuse_identical(*, version: BenchmarkVersion, team: str, sha256: str) -> None:
    """Refuse a file the team already submitted to ``version``: it would score the same again."""
    earlier = identical_submission(version=version, team=team, sha256=sha256)
    if earlier is not None:
        raise SubmissionRejected(
            f"this file is identical (SHA-256 {sha256[:12]}…) to submission #{earlier.pk} of team {team} on "
            f"{version}, made {earlier.created_at:%Y-%m-%d %H:%M} UTC and now {earlier.status}: it would score "
            f"the same, so it was not uploaded again; see {earlier.get_absolute_url()}",
            field="model_file",
            status=409,
            earlier=earlier,
        )


def withdraw_submission(*, submission: Submission) -> Submission:
    """Hide a submission from leaderboards (it stays in the ledger); its version's board is then stale.

    Refused once the version is frozen: its final board is published, and withdrawing would let a
    team drop entries after seeing their final-part scores. The caller queues the recompute
    (``touchstone.tasks.withdraw``).
    """

    with transaction.atomic():
        # The submission's row first and the version's second, the order in which scoring
        # takes them, so that the two never wait for each other.
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        version = BenchmarkVersion.objects.select_for_update().get(pk=locked.version_id)
        if not version.is_open:
            raise SubmissionRejected(
                f"submission {locked.pk} cannot be withdrawn: {version} is {version.status} and its final "
                "board is published, so every submission stays as it was when the version froze",
                status=409,
            )
        if locked.status == Submission.Status.WITHDRAWN:
            return locked
        was_ranked = locked.status == Submission.Status.SCORED
        locked.withdraw()
        if was_ranked:
            BenchmarkVersion.objects.filter(pk=locked.version_id).mark_leaderboard_stale()
    return locked


def restore_submission(*, submission: Submission) -> Submission:
    """Undo a withdrawal: a withdrawn scored submission is scored again and back on the board.

    Only while the version is open, and only for a submission that was scored before it was
    withdrawn (one withdrawn while queued or running has no scores; its file may be uploaded
    again). Nothing in the Ladder's log changes: the submission's release, if it has one, is
    shown again as it was, and one the log does not hold yet is laddered as a new result by
    the recompute the caller queues (``touchstone.tasks.restore``).
    """
    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        version = BenchmarkVersion.objects.select_for_update().get(pk=locked.version_id)
        if locked.status != Submission.Status.WITHDRAWN:
            return locked
        if not version.is_open:
            raise SubmissionRejected(
                f"submission {locked.pk} cannot be restored: {version} is {version.status} and its final board "
                "is published, so every submission stays as it was when the version froze",
                status=409,
            )
        if locked.scored_at is None:
            raise SubmissionRejected(
                f"submission {locked.pk} was withdrawn before it was scored, so there is nothing to restore; "
                "upload the model again to have it evaluated",
                status=409,
            )
        locked.status = Submission.Status.SCORED
        locked.withdrawn_at = None
        locked.save(update_fields=["status", "withdrawn_at", "updated_at"])
        BenchmarkVersion.objects.filter(pk=locked.version_id).mark_leaderboard_stale()
    return locked


def _lock_for_final_choice(submission: Submission) -> tuple[Submission, BenchmarkVersion]:
    """The submission and its version, locked, with the version checked to be still open.

    The version's row is what a freeze locks, so a choice made here either commits before the
    freeze or sees the version frozen; two choices of one team on one version take turns on it,
    so together they cannot mark more than the limit.
    """
    locked = Submission.objects.select_for_update().get(pk=submission.pk)
    version = BenchmarkVersion.objects.select_for_update().get(pk=locked.version_id)
    if not version.is_open:
        raise SubmissionRejected(
            f"{version} is {version.status}: the final submissions were fixed when it froze and can no longer change",
            status=409,
        )
    return locked, version


def mark_final(*, submission: Submission) -> Submission:
    """Count a scored submission among its team's final submissions on an open version.

    A team marks at most ``FINAL_SUBMISSIONS_PER_TEAM``; once the version is frozen its board
    ranks the team by the better of them on the final part. Marking a marked one changes nothing.
    """
    with transaction.atomic():
        locked, version = _lock_for_final_choice(submission)
        if locked.is_baseline:
            raise SubmissionRejected(
                f"submission {locked.pk} is a baseline: every baseline is its own entry on the frozen board, "
                "so there is nothing to mark",
                status=409,
            )
        if locked.status != Submission.Status.SCORED:
            reason = {
                Submission.Status.FAILED: "failed, so it has no scores to rank",
                Submission.Status.WITHDRAWN: "withdrawn, so it is on no leaderboard",
            }.get(locked.status, "still being evaluated; mark it once it is scored")
            raise SubmissionRejected(f"submission {locked.pk} cannot be marked final: it is {reason}", status=409)
        if locked.final_marked_at is not None:
            return locked
        others = list(
            final_submissions(version=version, team=locked.team).exclude(pk=locked.pk).values_list("pk", flat=True)
        )
        if len(others) >= FINAL_SUBMISSIONS_PER_TEAM:
            marked = " and ".join(f"#{pk}" for pk in sorted(others))
            raise SubmissionRejected(
                f"team {locked.team} has already marked {len(others)} final submissions on {version} ({marked}); "
                f"a team marks at most {FINAL_SUBMISSIONS_PER_TEAM}, so unmark one of them first",
                status=409,
            )
        locked.final_marked_at = timezone.now()
        locked.save(update_fields=["final_marked_at", "updated_at"])
    return locked


def unmark_final(*, submission: Submission) -> Submission:
    """Take a submission out of its team's final submissions while the version is open."""
    with transaction.atomic():
        locked, _ = _lock_for_final_choice(submission)
        if locked.final_marked_at is not None:
            locked.final_marked_at = None
            locked.save(update_fields=["final_marked_at", "updated_at"])
    return locked


def final_submissions(*, version: BenchmarkVersion, team: str) -> QuerySet[Submission]:
    """The team's marked final submissions that still count: scored and not withdrawn."""
    return Submission.objects.filter(
        version=version, team=team, is_baseline=False, final_marked_at__isnull=False
    ).public()
