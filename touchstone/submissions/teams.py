"""Teams: creating one, inviting researchers, answering invitations, leaving.

A researcher is in at most one team per benchmark (the database holds to it). Everything that
could otherwise be gamed by moving between teams is fixed by two rules:

* A member cannot leave, nor be removed from, a team that has uploaded anything to the
  benchmark since they joined: those uploads, the quota they used and what the Ladder told the
  team stay the team's, and a member who saw the team's held results cannot take that
  knowledge to a fresh team with a fresh quota and a fresh Ladder.
* A researcher who has uploaded to a benchmark cannot join another team of it: their uploads
  stay with the team they were made for, so their quota and Ladder record cannot be reset by
  changing teams. (They can still invite others into their own team.)

A researcher who uploads without being in a team gets a team of their own, named after them.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from touchstone.benchmarks.models import Benchmark
from touchstone.submissions.models import Submission, Team, TeamInvitation, TeamMembership

RESERVED_TEAM_PREFIX = "touchstone"
"""Team names starting with this (in any case) would pass for the site's own entries."""


class TeamRefused(Exception):
    """A team action was refused; ``status`` is the HTTP status the API answers with."""

    def __init__(self, message: str, *, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def membership_of(user, benchmark: Benchmark | int) -> TeamMembership | None:
    benchmark_id = benchmark if isinstance(benchmark, int) else benchmark.pk
    return TeamMembership.objects.filter(user=user, benchmark_id=benchmark_id).select_related("team").first()


def team_name_for(user, benchmark: Benchmark) -> str:
    """The name ``Submission.team`` gets for the user's uploads to the benchmark."""
    membership = membership_of(user, benchmark)
    return membership.team.name if membership else _own_team_name(user, benchmark)


def _own_team_name(user, benchmark: Benchmark) -> str:
    """The user's name, or, if a team of the benchmark already took it, the first free ``name-2``, ``name-3``…"""
    base = user.get_username()
    name, number = base, 1
    while Team.objects.filter(benchmark=benchmark, name__iexact=name).exists():
        number += 1
        name = f"{base}-{number}"
    return name


def _unique_slug(benchmark: Benchmark, name: str) -> str:
    base = slugify(name)[:120] or "team"
    slug, number = base, 1
    while Team.objects.filter(benchmark=benchmark, slug=slug).exists():
        number += 1
        slug = f"{base}-{number}"
    return slug


def uploading_team(user, benchmark: Benchmark) -> Team:
    """The team an upload of ``user`` to ``benchmark`` is made for, created (a team of one) if needed.

    Called inside the upload's transaction with the user's row locked, so that two parallel
    uploads of one researcher cannot create two teams.
    """
    membership = membership_of(user, benchmark)
    if membership is not None:
        return membership.team
    team = Team.objects.create(
        benchmark=benchmark,
        name=_own_team_name(user, benchmark),
        slug=_unique_slug(benchmark, user.get_username()),
        created_by=user,
    )
    TeamMembership.objects.create(team=team, user=user)
    return team


def has_uploaded(user, benchmark: Benchmark) -> bool:
    return Submission.objects.filter(owner=user, version__benchmark=benchmark, is_baseline=False).exists()


def _bound_to_team(membership: TeamMembership) -> bool:
    """Whether the team uploaded anything to its benchmark since the member joined it."""
    return Submission.objects.filter(
        version__benchmark_id=membership.benchmark_id,
        team=membership.team.name,
        is_baseline=False,
        origin=Submission.Origin.UPLOAD,
        created_at__gte=membership.joined_at,
    ).exists()


def _lock_user(user) -> None:
    # The same row an upload locks, so joining and uploading take turns for one researcher.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()


def create_team(*, user, benchmark: Benchmark, name: str) -> Team:
    """A new team of the benchmark with ``user`` as its first member."""
    name = " ".join(name.split())
    if not name or len(name) > 120:
        raise TeamRefused("a team name has 1 to 120 characters; choose another one", status=400)
    if name.lower().startswith(RESERVED_TEAM_PREFIX):
        raise TeamRefused(f"team names starting with “{RESERVED_TEAM_PREFIX}” are reserved for the site", status=400)
    users = get_user_model().objects.filter(username__iexact=name).exclude(pk=user.pk)
    if users.exists():
        raise TeamRefused(
            f"“{name}” is a researcher's username, and a researcher who submits alone is listed under it; "
            "choose another team name",
            status=400,
        )
    with transaction.atomic():
        _lock_user(user)
        membership = membership_of(user, benchmark)
        if membership is not None:
            raise TeamRefused(
                f"you are already in team {membership.team.name} on {benchmark.slug}; a researcher is in one team "
                "per benchmark, so invite others into it instead"
            )
        if has_uploaded(user, benchmark):
            raise TeamRefused(
                f"you have already submitted to {benchmark.slug}; your submissions stay with the team they were made "
                "for, so invite others into that team instead"
            )
        if Team.objects.filter(benchmark=benchmark, name__iexact=name).exists():
            raise TeamRefused(f"{benchmark.slug} already has a team called “{name}”; choose another name", status=400)
        try:
            with transaction.atomic():
                team = Team.objects.create(
                    benchmark=benchmark, name=name, slug=_unique_slug(benchmark, name), created_by=user
                )
                TeamMembership.objects.create(team=team, user=user)
        except IntegrityError:
            raise TeamRefused(f"{benchmark.slug} already has a team called “{name}”; choose another name") from None
    return team


def invite(*, team: Team, by, username: str) -> TeamInvitation:
    """Invite the researcher called ``username`` into ``team``; only a member may invite."""
    if not TeamMembership.objects.filter(team=team, user=by).exists():
        raise TeamRefused(f"only members of team {team.name} can invite researchers into it", status=403)
    # Each invitation lands on a researcher's page (and in their mail): a member cannot spray them.
    sent = TeamInvitation.objects.filter(invited_by=by, created_at__gte=timezone.now() - timedelta(hours=1)).count()
    if sent >= settings.INVITATIONS_PER_HOUR:
        raise TeamRefused(
            f"you have sent {sent} invitations in the last hour, the most allowed; try again in an hour", status=429
        )
    invitee = get_user_model().objects.filter(username__iexact=username.strip()).first()
    if invitee is None:
        raise TeamRefused(f"there is no researcher called “{username.strip()}”; check the username", status=400)
    if TeamMembership.objects.filter(team=team, user=invitee).exists():
        raise TeamRefused(f"{invitee.get_username()} is already in team {team.name}")
    try:
        with transaction.atomic():
            return TeamInvitation.objects.create(team=team, invitee=invitee, invited_by=by)
    except IntegrityError:
        raise TeamRefused(f"{invitee.get_username()} already has an invitation to team {team.name}") from None


def _pending(invitation: TeamInvitation, user) -> TeamInvitation:
    """The invitation, locked, if ``user`` is its invitee and it still waits for an answer."""
    locked = TeamInvitation.objects.select_for_update().select_related("team__benchmark").get(pk=invitation.pk)
    if locked.invitee_id != user.pk:
        raise TeamRefused("this invitation is addressed to another researcher", status=404)
    if locked.status != TeamInvitation.Status.PENDING:
        raise TeamRefused(f"this invitation was already {locked.status}")
    return locked


def accept_invitation(*, invitation: TeamInvitation, user) -> TeamMembership:
    """Join the invitation's team, if ``user`` is its invitee and may still join a team of the benchmark."""
    with transaction.atomic():
        _lock_user(user)
        locked = _pending(invitation, user)
        team = Team.objects.select_for_update().get(pk=locked.team_id)
        benchmark = locked.team.benchmark
        current = membership_of(user, benchmark)
        if current is not None:
            raise TeamRefused(
                f"you are in team {current.team.name} on {benchmark.slug}, and a researcher is in one team per "
                "benchmark: leave it first (possible only while it has no uploads since you joined)"
            )
        if has_uploaded(user, benchmark):
            raise TeamRefused(
                f"you have already submitted to {benchmark.slug}: your submissions, the quota they used and their "
                "Ladder record stay with the team they were made for, so you cannot join another team of it"
            )
        membership = TeamMembership.objects.create(team=team, user=user)
        locked.status = TeamInvitation.Status.ACCEPTED
        locked.responded_at = timezone.now()
        locked.save(update_fields=["status", "responded_at"])
    return membership


def decline_invitation(*, invitation: TeamInvitation, user) -> TeamInvitation:
    with transaction.atomic():
        locked = _pending(invitation, user)
        locked.status = TeamInvitation.Status.DECLINED
        locked.responded_at = timezone.now()
        locked.save(update_fields=["status", "responded_at"])
    return locked


def remove_member(*, team: Team, member, by) -> None:
    """``member`` leaves ``team`` (``by`` is the member) or is removed by the team's creator.

    Refused once the team has uploaded since the member joined (see the module's rules). A team
    left with no members and no submissions is deleted, which frees its name.
    """
    removing_another = by.pk != member.pk
    if removing_another and (
        by.pk != team.created_by_id or not TeamMembership.objects.filter(team=team, user=by).exists()
    ):
        raise TeamRefused(f"only the creator of team {team.name}, while a member, can remove its members", status=403)
    with transaction.atomic():
        _lock_user(member)
        Team.objects.select_for_update().filter(pk=team.pk).first()
        membership = TeamMembership.objects.filter(team=team, user=member).select_related("team").first()
        if membership is None:
            raise TeamRefused(f"{member.get_username()} is not in team {team.name}", status=404)
        if _bound_to_team(membership):
            raise TeamRefused(
                f"team {team.name} has submitted to {team.benchmark.slug} since {member.get_username()} joined: "
                "its submissions, the quota they used and what the Ladder showed stay the team's, so its members "
                "stay in it on this benchmark"
            )
        membership.delete()
        if (
            not team.memberships.exists()
            and not Submission.objects.filter(
                version__benchmark_id=team.benchmark_id, team=team.name, is_baseline=False
            ).exists()
        ):
            team.delete()


def team_members(benchmark_id: int, names: set[str]) -> dict[str, list[str]]:
    """Team name → its members' usernames, for the teams named on one benchmark's board.

    A name without a team row (submissions recorded before teams existed) lists the researchers
    who submitted under it.
    """
    members: dict[str, list[str]] = {name: [] for name in names}
    rows = TeamMembership.objects.filter(benchmark_id=benchmark_id, team__name__in=names)
    for name, username in rows.values_list("team__name", "user__username").order_by("joined_at", "pk"):
        members[name].append(username)
    orphans = {name for name, found in members.items() if not found}
    if orphans:
        owners = Submission.objects.filter(version__benchmark_id=benchmark_id, team__in=orphans, is_baseline=False)
        for name, username in (
            owners.values_list("team", "owner__username").distinct().order_by("team", "owner__username")
        ):
            members[name].append(username)
    return members
