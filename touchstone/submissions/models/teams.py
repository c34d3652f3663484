"""Teams: researchers who submit to one benchmark together, and their invitations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

if TYPE_CHECKING:
    from touchstone.submissions.models.submissions import Submission


class Team(models.Model):
    """Researchers who submit to one benchmark together: one quota, one Ladder, one final choice.

    Submissions name their team by ``Submission.team``, the team's name, which is unique on the
    benchmark and never changes. A researcher who submits without having joined a team gets a
    team of their own, named after them. Names are compared without regard to case.
    """

    benchmark = models.ForeignKey("benchmarks.Benchmark", on_delete=models.PROTECT, related_name="teams")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["benchmark", "name"]
        constraints = [
            models.UniqueConstraint(fields=["benchmark", "slug"], name="unique_team_slug_per_benchmark"),
            models.UniqueConstraint(Lower("name"), "benchmark", name="unique_team_name_per_benchmark"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("front:team", args=[self.benchmark.slug, self.slug])

    def member_names(self) -> list[str]:
        # ``memberships.all()`` reads a ``prefetch_related("memberships__user")`` when there is one.
        return sorted(membership.user.get_username() for membership in self.memberships.all())


class TeamMembership(models.Model):
    """A researcher's place in a team. ``benchmark`` repeats the team's, so that the database
    itself keeps each researcher in at most one team per benchmark."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")
    benchmark = models.ForeignKey("benchmarks.Benchmark", on_delete=models.PROTECT, related_name="+")
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team", "joined_at"]
        constraints = [models.UniqueConstraint(fields=["user", "benchmark"], name="one_team_per_benchmark")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"

    def save(self, *args, **kwargs):
        self.benchmark_id = self.team.benchmark_id
        super().save(*args, **kwargs)


class TeamInvitation(models.Model):
    """A member's invitation of another researcher, which only that researcher can accept or decline."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DECLINED = "declined"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    invitee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_invitations")
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "invitee"],
                condition=models.Q(status="pending"),
                name="one_pending_invitation_per_team_and_researcher",
            )
        ]

    def __str__(self) -> str:
        return f"{self.invitee} invited to {self.team} ({self.status})"


def teams_q(user) -> models.Q:
    """Submissions made under any of the user's teams (none if the user is in no team)."""
    condition = models.Q(pk__in=[])
    for benchmark_id, name in TeamMembership.objects.filter(user=user).values_list("benchmark_id", "team__name"):
        condition |= models.Q(version__benchmark_id=benchmark_id, team=name, is_baseline=False)
    return condition


def is_teammate(user, submission: Submission) -> bool:
    """Whether ``user`` submitted ``submission`` or is in the team it was made for."""
    if not user.is_authenticated:
        return False
    if user.pk == submission.owner_id:
        return True
    if submission.is_baseline:
        return False
    return TeamMembership.objects.filter(
        user=user, benchmark_id=submission.version.benchmark_id, team__name=submission.team
    ).exists()
