"""Teams: one per researcher and benchmark, invitations, and the quota, Ladder and finals they share."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from tests.touchstone.conftest import upload
from tests.touchstone.ledger import record_result
from touchstone.rankings.models import LadderRelease, LeaderboardEntry
from touchstone.rankings.services import recompute_leaderboard
from touchstone.submissions.models import Submission, Team, TeamInvitation, TeamMembership
from touchstone.submissions.services import SubmissionRejected, mark_final, submissions_today, submit_model
from touchstone.submissions.teams import (
    TeamRefused,
    accept_invitation,
    create_team,
    decline_invitation,
    invite,
    remove_member,
)


def researcher_called(name: str):
    return get_user_model().objects.create_user(name, f"{name}@example.org", "a-long-password-9")


def team_of_two(version, researcher, other_researcher, name: str = "Owls") -> Team:
    team = create_team(user=researcher, benchmark=version.benchmark, name=name)
    accept_invitation(invitation=invite(team=team, by=researcher, username="grace"), user=other_researcher)
    return team


def for_team(submission: Submission, team: Team) -> Submission:
    """A ledger row moved to ``team``, as an upload of one of its members would have been made."""
    Submission.objects.filter(pk=submission.pk).update(team=team.name)
    submission.refresh_from_db()
    return submission


def test_the_database_keeps_a_researcher_in_one_team_per_benchmark(version, researcher, other_researcher):
    first = create_team(user=researcher, benchmark=version.benchmark, name="Owls")
    second = create_team(user=other_researcher, benchmark=version.benchmark, name="Larks")
    with pytest.raises(IntegrityError), transaction.atomic():
        TeamMembership.objects.create(team=second, user=researcher)
    assert list(TeamMembership.objects.filter(user=researcher).values_list("team", flat=True)) == [first.pk]


def test_an_invitee_accepts_and_becomes_a_member(version, researcher, other_researcher):
    team = team_of_two(version, researcher, other_researcher)
    assert team.member_names() == ["ada", "grace"]
    assert TeamInvitation.objects.get(team=team).status == "accepted"


def test_an_invitee_declines_and_stays_out(version, researcher, other_researcher):
    team = create_team(user=researcher, benchmark=version.benchmark, name="Owls")
    invitation = invite(team=team, by=researcher, username="grace")
    assert decline_invitation(invitation=invitation, user=other_researcher).status == "declined"
    with pytest.raises(TeamRefused, match="already declined"):
        accept_invitation(invitation=invitation, user=other_researcher)
    assert team.member_names() == ["ada"]


def test_a_researcher_cannot_accept_or_decline_an_invitation_addressed_to_another(
    version, researcher, other_researcher
):
    team = create_team(user=researcher, benchmark=version.benchmark, name="Owls")
    invitation = invite(team=team, by=researcher, username="grace")
    intruder = researcher_called("mallory")
    for answer in (accept_invitation, decline_invitation):
        with pytest.raises(TeamRefused, match="addressed to another researcher"):
            answer(invitation=invitation, user=intruder)
    assert TeamInvitation.objects.get(pk=invitation.pk).status == "pending"
    assert team.member_names() == ["ada"]


def test_only_members_invite_and_only_existing_researchers_are_invited(version, researcher, other_researcher):
    team = create_team(user=researcher, benchmark=version.benchmark, name="Owls")
    with pytest.raises(TeamRefused, match="only members"):
        invite(team=team, by=other_researcher, username="grace")
    with pytest.raises(TeamRefused, match="no researcher called"):
        invite(team=team, by=researcher, username="nobody-here")


def test_a_team_cannot_take_another_researchers_username_or_the_sites_name(version, researcher, other_researcher):
    with pytest.raises(TeamRefused, match="username"):
        create_team(user=researcher, benchmark=version.benchmark, name="Grace")
    with pytest.raises(TeamRefused, match="reserved"):
        create_team(user=researcher, benchmark=version.benchmark, name="Touchstone baselines")


def test_members_share_one_daily_quota(version, researcher, other_researcher, good_model_bytes, settings):
    settings.SUBMISSIONS_PER_DAY = 2
    team = team_of_two(version, researcher, other_researcher)
    first = submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="a")
    second = submit_model(
        owner=other_researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="b"
    )
    assert first.team == second.team == "Owls"
    assert submissions_today(owner=researcher, version=version) == 2
    with pytest.raises(SubmissionRejected, match="daily quota"):
        submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="c")
    # Someone outside the team still has their own quota, under a team of their own.
    outsider = researcher_called("linus")
    alone = submit_model(owner=outsider, version=version, uploaded_file=upload(good_model_bytes), model_name="d")
    assert alone.team == "linus" and Team.objects.get(benchmark=version.benchmark, name="linus").member_names() == [
        "linus"
    ]
    assert team.member_names() == ["ada", "grace"]


def test_a_member_who_has_submitted_cannot_leave_or_join_another_team(
    version, researcher, other_researcher, good_model_bytes
):
    team = team_of_two(version, researcher, other_researcher)
    submit_model(owner=other_researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="a")
    for who in (researcher, other_researcher):
        with pytest.raises(TeamRefused, match="stay the team's"):
            remove_member(team=team, member=other_researcher, by=who)
    # A researcher who submitted alone keeps their submissions, quota and Ladder with that team.
    loner = researcher_called("linus")
    submit_model(owner=loner, version=version, uploaded_file=upload(good_model_bytes), model_name="b")
    with pytest.raises(TeamRefused, match="in team linus"):
        accept_invitation(invitation=invite(team=team, by=researcher, username="linus"), user=loner)
    assert team.member_names() == ["ada", "grace"]


def test_a_member_leaves_a_team_that_has_not_submitted_since_they_joined(version, researcher, other_researcher):
    team = team_of_two(version, researcher, other_researcher)
    remove_member(team=team, member=other_researcher, by=other_researcher)
    assert team.member_names() == ["ada"]
    # Free to start a team of their own on the benchmark.
    assert create_team(user=other_researcher, benchmark=version.benchmark, name="Larks").member_names() == ["grace"]


def test_members_climb_one_ladder_and_hold_one_entry(version, researcher, other_researcher):
    team = team_of_two(version, researcher, other_researcher)
    first = for_team(record_result(version, researcher, accuracy=0.8, seed=1), team)
    second = for_team(record_result(version, other_researcher, accuracy=0.5, seed=2), team)
    recompute_leaderboard(version=version)
    releases = {r.submission_id: r for r in LadderRelease.objects.filter(version=version)}
    assert {r.group for r in releases.values()} == {"team:Owls"}
    # The teammate's weaker model does not beat the team's bar, so the team keeps one entry.
    assert releases[first.pk].improved and not releases[second.pk].improved
    assert list(LeaderboardEntry.objects.filter(version=version).values_list("submission", flat=True)) == [first.pk]


def test_a_team_marks_at_most_two_finals_whoever_submitted_them(version, researcher, other_researcher):
    team = team_of_two(version, researcher, other_researcher)
    rows = [
        for_team(record_result(version, owner, accuracy=0.6 + 0.1 * seed, seed=seed), team)
        for seed, owner in enumerate([researcher, other_researcher, other_researcher])
    ]
    mark_final(submission=rows[0])
    mark_final(submission=rows[1])
    with pytest.raises(SubmissionRejected, match="team Owls has already marked 2"):
        mark_final(submission=rows[2])
