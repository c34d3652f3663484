"""Teams: one per researcher and benchmark, invitations, and the quota, Ladder and finals they share."""

from __future__ import annotations

import csv
import importlib
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.touchstone.conftest import api_client_for, upload
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
    team_name_for,
    uploading_team,
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


def test_a_teammate_sees_the_teams_unscored_submissions_and_another_team_does_not(
    version, researcher, other_researcher, good_model_bytes
):
    team_of_two(version, researcher, other_researcher)
    queued = submit_model(owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="a")
    url = f"/api/v1/submissions/{queued.pk}/"
    seen = api_client_for(other_researcher).get(url)
    assert seen.status_code == 200 and seen.json()["status"] == "queued"
    assert Client().get(f"/submissions/{queued.pk}/").status_code == 404
    stranger = Client()
    stranger.force_login(researcher_called("linus"))
    assert stranger.get(f"/submissions/{queued.pk}/").status_code == 404
    assert api_client_for(researcher_called("mallory")).get(url).status_code == 404
    teammate = Client()
    teammate.force_login(other_researcher)
    page = teammate.get(f"/benchmarks/{version.benchmark.slug}/teams/owls/")
    assert page.status_code == 200 and f"/submissions/{queued.pk}/" in page.content.decode()


def test_a_teammate_marks_a_final_submission_through_the_api(version, researcher, other_researcher):
    team = team_of_two(version, researcher, other_researcher)
    submission = for_team(record_result(version, researcher, accuracy=0.8, seed=1), team)
    recompute_leaderboard(version=version)
    marked = api_client_for(other_researcher).post(f"/api/v1/submissions/{submission.pk}/final/")
    assert marked.status_code == 200 and marked.json()["final"] == "marked", marked.content
    outsider = api_client_for(researcher_called("linus")).post(f"/api/v1/submissions/{submission.pk}/final/")
    assert outsider.status_code == 403


def test_the_board_shows_each_team_with_its_members(version, researcher, other_researcher):
    team = team_of_two(version, researcher, other_researcher)
    for_team(record_result(version, other_researcher, accuracy=0.8, seed=1), team)
    record_result(version, researcher_called("linus"), accuracy=0.7, seed=2)
    recompute_leaderboard(version=version)
    base = f"/api/v1/benchmarks/{version.benchmark.slug}/versions/{version.version}"
    body = Client().get(f"{base}/leaderboard/").json()
    assert {e["team"]: e["team_members"] for e in body["entries"]} == {"Owls": ["ada", "grace"], "linus": ["linus"]}
    rows = list(csv.DictReader(io.StringIO(Client().get(f"{base}/export/?format=csv").content.decode())))
    assert {row["team"]: row["team_members"] for row in rows} == {"Owls": "ada, grace", "linus": "linus"}
    page = Client().get(f"/benchmarks/{version.benchmark.slug}/{version.version}/").content.decode()
    assert 'Owls <span class="team-members muted">(ada, grace)</span>' in page


def test_invitations_through_the_api_are_answered_only_by_their_invitee(version, researcher, other_researcher):
    owner = api_client_for(researcher)
    created = owner.post("/api/v1/teams/", {"benchmark": version.benchmark.slug, "name": "Owls"})
    assert created.status_code == 201 and created.json()["members"] == ["ada"], created.content
    invited = owner.post(f"/api/v1/benchmarks/{version.benchmark.slug}/teams/owls/invitations/", {"username": "grace"})
    assert invited.status_code == 201, invited.content
    pk = invited.json()["id"]
    assert (
        api_client_for(researcher_called("mallory")).post(f"/api/v1/teams/invitations/{pk}/accept/").status_code == 404
    )
    mine = api_client_for(other_researcher)
    assert [i["id"] for i in mine.get("/api/v1/teams/").json()["invitations"]] == [pk]
    accepted = mine.post(f"/api/v1/teams/invitations/{pk}/accept/")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert mine.get("/api/v1/teams/").json()["teams"][0]["members"] == ["ada", "grace"]
    again = mine.post(f"/api/v1/teams/invitations/{pk}/decline/")
    assert again.status_code == 409 and "already accepted" in again.json()["detail"]
    listed = APIClient().get(f"/api/v1/benchmarks/{version.benchmark.slug}/teams/").json()
    assert [(team["name"], team["members"]) for team in listed] == [("Owls", ["ada", "grace"])]
    left = mine.delete(f"/api/v1/benchmarks/{version.benchmark.slug}/teams/owls/members/grace/")
    assert left.status_code == 204 and Team.objects.get(name="Owls").member_names() == ["ada"]


def test_the_teams_pages_invite_and_accept(version, researcher, other_researcher):
    owner = Client()
    owner.force_login(researcher)
    created = owner.post("/teams/", {"benchmark": version.benchmark.slug, "name": "Owls"})
    assert created.status_code == 302 and created["Location"] == f"/benchmarks/{version.benchmark.slug}/teams/owls/"
    owner.post(f"/benchmarks/{version.benchmark.slug}/teams/owls/invite/", {"username": "grace"})
    invitation = TeamInvitation.objects.get(invitee=other_researcher)
    stranger = Client()
    stranger.force_login(researcher_called("mallory"))
    assert stranger.post(f"/teams/invitations/{invitation.pk}/accept/").status_code == 404
    guest = Client()
    guest.force_login(other_researcher)
    assert f"/teams/invitations/{invitation.pk}/accept/" in guest.get("/teams/").content.decode()
    guest.post(f"/teams/invitations/{invitation.pk}/accept/")
    assert Team.objects.get(name="Owls").member_names() == ["ada", "grace"]


def test_the_migration_puts_a_team_row_behind_each_team_name_already_used(version, researcher, other_researcher):
    from django.apps import apps

    migration = importlib.import_module("touchstone.submissions.migrations.0008_teams")
    record_result(version, researcher, accuracy=0.8, seed=1)
    record_result(version, researcher, accuracy=0.7, seed=2)
    shared = record_result(version, other_researcher, accuracy=0.6, seed=3)
    Submission.objects.filter(pk=shared.pk).update(team="ada")
    record_result(version, researcher_called("linus"), accuracy=0.5, seed=4)
    migration.teams_for_existing_submissions(apps, None)
    teams = {team.name: team.member_names() for team in Team.objects.filter(benchmark=version.benchmark)}
    assert teams == {"ada": ["ada", "grace"], "linus": ["linus"]}


def test_a_researcher_whose_username_a_team_took_first_submits_under_a_name_of_their_own(version, researcher):
    taken = create_team(user=researcher, benchmark=version.benchmark, name="Linus")
    linus = researcher_called("linus")
    assert team_name_for(linus, version.benchmark) == "linus-2"
    with transaction.atomic():
        own = uploading_team(linus, version.benchmark)
    assert own.name == "linus-2" and own.member_names() == ["linus"] and taken.member_names() == ["ada"]


def test_a_member_who_joins_shows_on_the_board_page_already_served_from_the_cache(
    version, researcher, other_researcher, settings
):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "teams"}}
    team = team_of_two(version, researcher, other_researcher)
    for_team(record_result(version, other_researcher, accuracy=0.8, seed=1), team)
    recompute_leaderboard(version=version)
    url = f"/benchmarks/{version.benchmark.slug}/{version.version}/"
    assert "(ada, grace)" in Client().get(url).content.decode()
    linus = researcher_called("linus")
    accept_invitation(invitation=invite(team=team, by=researcher, username="linus"), user=linus)
    assert "(ada, grace, linus)" in Client().get(url).content.decode()


def test_a_member_sends_at_most_the_set_invitations_an_hour(version, researcher, settings):
    settings.INVITATIONS_PER_HOUR = 2
    team = create_team(user=researcher, benchmark=version.benchmark, name="Owls")
    for name in ("bea", "cyd"):
        invite(team=team, by=researcher, username=researcher_called(name).username)
    researcher_called("dot")
    with pytest.raises(TeamRefused) as refused:
        invite(team=team, by=researcher, username="dot")
    assert refused.value.status == 429 and "2 invitations in the last hour" in refused.value.message
    assert not TeamInvitation.objects.filter(invitee__username="dot").exists()
    # An hour later the member may invite again.
    TeamInvitation.objects.update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    assert invite(team=team, by=researcher, username="dot").invitee.username == "dot"


def test_the_submission_page_links_its_teams_page(version, researcher, other_researcher, good_model_bytes):
    team = team_of_two(version, researcher, other_researcher)
    submission = submit_model(
        owner=other_researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="Owl net"
    )
    client = Client()
    client.force_login(other_researcher)
    page = client.get(f"/submissions/{submission.pk}/").content.decode()
    assert f'id="team-link" href="{team.get_absolute_url()}"' in page
