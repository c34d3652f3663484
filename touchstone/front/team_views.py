"""Team pages: one's teams and invitations, a team's members and submissions, and the forms that change them."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from touchstone.benchmarks.models import Benchmark
from touchstone.submissions.models import Submission, Team, TeamInvitation, TeamMembership
from touchstone.submissions.teams import (
    TeamRefused,
    accept_invitation,
    create_team,
    decline_invitation,
    invite,
    remove_member,
)


class TeamForm(forms.Form):
    benchmark = forms.ModelChoiceField(
        queryset=Benchmark.objects.filter(versions__status__in=["published", "frozen"]).distinct(),
        to_field_name="slug",
        help_text="A team belongs to one benchmark; you are in at most one team per benchmark.",
    )
    name = forms.CharField(max_length=120, help_text="Shown on the leaderboard, with the members' usernames.")


class InviteForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="The researcher's username on this site.")


def _team(slug: str, team: str) -> Team:
    return get_object_or_404(Team.objects.select_related("benchmark", "created_by"), benchmark__slug=slug, slug=team)


@login_required
def my_teams(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = create_team(
                user=request.user, benchmark=form.cleaned_data["benchmark"], name=form.cleaned_data["name"]
            )
        except TeamRefused as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, f"Team {team.name} is created; invite its members from its page.")
            return redirect(team)
    memberships = TeamMembership.objects.filter(user=request.user).select_related("team__benchmark")
    invitations = TeamInvitation.objects.filter(invitee=request.user, status=TeamInvitation.Status.PENDING)
    context = {
        "teams": [membership.team for membership in memberships],
        "invitations": invitations.select_related("team__benchmark", "invited_by"),
        "form": form,
    }
    return render(request, "front/teams.html", context)


def team_detail(request: HttpRequest, slug: str, team: str) -> HttpResponse:
    found = _team(slug, team)
    members = list(found.memberships.select_related("user").order_by("joined_at", "pk"))
    is_member = any(membership.user_id == request.user.pk for membership in members)
    submissions = Submission.objects.filter(version__benchmark=found.benchmark, team=found.name, is_baseline=False)
    context = {
        "team": found,
        "members": members,
        "is_member": is_member,
        "is_creator": request.user.pk == found.created_by_id,
        # What the team stakes and tries is its own business: only members see whom it invited.
        "pending": found.invitations.filter(status=TeamInvitation.Status.PENDING).select_related("invitee")
        if is_member
        else [],
        "submissions": submissions.visible_to(request.user).select_related("version", "owner"),
        "form": InviteForm(),
    }
    return render(request, "front/team.html", context)


@login_required
@require_POST
def invite_member(request: HttpRequest, slug: str, team: str) -> HttpResponse:
    found = _team(slug, team)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = invite(team=found, by=request.user, username=form.cleaned_data["username"])
        except TeamRefused as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(
                request, f"{invitation.invitee.get_username()} is invited; they accept on their Teams page."
            )
    else:
        messages.error(request, "Give the username of the researcher to invite.")
    return redirect(found)


@login_required
@require_POST
def answer_invitation(request: HttpRequest, pk: int, answer: str) -> HttpResponse:
    if answer not in {"accept", "decline"}:
        raise Http404
    # Someone else's invitation is answered as if it did not exist.
    invitation = get_object_or_404(
        TeamInvitation.objects.select_related("team__benchmark"), pk=pk, invitee=request.user
    )
    try:
        if answer == "accept":
            accept_invitation(invitation=invitation, user=request.user)
            messages.success(request, f"You are now in team {invitation.team.name}.")
            return redirect(invitation.team)
        decline_invitation(invitation=invitation, user=request.user)
        messages.success(request, f"You declined the invitation to team {invitation.team.name}.")
    except TeamRefused as refusal:
        messages.error(request, refusal.message)
    return redirect("front:teams")


@login_required
@require_POST
def remove(request: HttpRequest, slug: str, team: str) -> HttpResponse:
    """The member named in the form leaves (if it is the user) or is removed by the team's creator."""
    found = _team(slug, team)
    member = get_object_or_404(get_user_model(), username=request.POST.get("username", ""))
    try:
        remove_member(team=found, member=member, by=request.user)
    except TeamRefused as refusal:
        messages.error(request, refusal.message)
        return redirect(found)
    if member.pk == request.user.pk:
        messages.success(request, f"You left team {found.name}.")
        return redirect("front:teams")
    messages.success(request, f"{member.get_username()} is no longer in team {found.name}.")
    return redirect(found) if Team.objects.filter(pk=found.pk).exists() else redirect("front:teams")
