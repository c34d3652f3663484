"""The teams API: one's teams and invitations, a team's members, and the actions that change them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from touchstone.api.errors import error_body
from touchstone.api.serializers import ErrorSerializer
from touchstone.benchmarks.models import Benchmark
from touchstone.submissions.models import Team, TeamInvitation, TeamMembership
from touchstone.submissions.teams import (
    TeamRefused,
    accept_invitation,
    create_team,
    decline_invitation,
    invite,
    remove_member,
)


class TeamSerializer(serializers.Serializer):
    benchmark = serializers.CharField(source="benchmark.slug")
    name = serializers.CharField(help_text="The name submissions and the leaderboard show.")
    slug = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created = serializers.DateTimeField()
    members = serializers.ListField(child=serializers.CharField(), source="member_names")


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    team = TeamSerializer()
    invitee = serializers.CharField(source="invitee.username")
    invited_by = serializers.CharField(source="invited_by.username")
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class TeamCreateSerializer(serializers.Serializer):
    benchmark = serializers.SlugField(help_text="The benchmark the team submits to.")
    name = serializers.CharField(max_length=120)


class InviteSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class MyTeamsSerializer(serializers.Serializer):
    teams = TeamSerializer(many=True)
    invitations = InvitationSerializer(many=True, help_text="Invitations to you that wait for an answer.")


def _refused(refusal: TeamRefused) -> Response:
    return Response(error_body(refusal.message), status=refusal.status)


def _team(slug: str, team: str) -> Team:
    return get_object_or_404(Team.objects.select_related("benchmark", "created_by"), benchmark__slug=slug, slug=team)


class MyTeams(APIView):
    """Your teams (one per benchmark at most) and the invitations waiting for your answer; POST creates a team."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=MyTeamsSerializer)
    def get(self, request: Request) -> Response:
        memberships = TeamMembership.objects.filter(user=request.user).select_related("team__benchmark")
        invitations = TeamInvitation.objects.filter(invitee=request.user, status=TeamInvitation.Status.PENDING)
        body = {
            "teams": [membership.team for membership in memberships],
            "invitations": list(invitations.select_related("team__benchmark", "invitee", "invited_by")),
        }
        return Response(MyTeamsSerializer(body).data)

    @extend_schema(
        request=TeamCreateSerializer, responses={201: TeamSerializer, 404: ErrorSerializer, 409: ErrorSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = TeamCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        benchmark = get_object_or_404(Benchmark, slug=serializer.validated_data["benchmark"])
        try:
            team = create_team(user=request.user, benchmark=benchmark, name=serializer.validated_data["name"])
        except TeamRefused as refusal:
            return _refused(refusal)
        return Response(TeamSerializer(team).data, status=status.HTTP_201_CREATED)


class TeamList(APIView):
    @extend_schema(responses={200: TeamSerializer(many=True), 404: ErrorSerializer})
    def get(self, request: Request, slug: str) -> Response:
        """The benchmark's teams and their members (public, as on the leaderboard)."""
        benchmark = get_object_or_404(Benchmark, slug=slug)
        teams = benchmark.teams.select_related("benchmark", "created_by").prefetch_related("memberships__user")
        return Response(TeamSerializer(teams, many=True).data)


class TeamDetail(APIView):
    @extend_schema(responses={200: TeamSerializer, 404: ErrorSerializer})
    def get(self, request: Request, slug: str, team: str) -> Response:
        """A team and its members (public, as on the leaderboard)."""
        return Response(TeamSerializer(_team(slug, team)).data)


class TeamInvite(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=InviteSerializer, responses={201: InvitationSerializer, 403: ErrorSerializer, 409: ErrorSerializer}
    )
    def post(self, request: Request, slug: str, team: str) -> Response:
        """Invite a researcher by username; only the team's members may."""
        serializer = InviteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            invitation = invite(team=_team(slug, team), by=request.user, username=serializer.validated_data["username"])
        except TeamRefused as refusal:
            return _refused(refusal)
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationAnswer(APIView):
    permission_classes = [permissions.IsAuthenticated]
    answer = "accept"

    @extend_schema(request=None, responses={200: InvitationSerializer, 404: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Accept or decline an invitation addressed to you (anyone else's answers 404)."""
        invitation = get_object_or_404(TeamInvitation, pk=pk, invitee=request.user)
        try:
            if self.answer == "accept":
                accept_invitation(invitation=invitation, user=request.user)
            else:
                decline_invitation(invitation=invitation, user=request.user)
        except TeamRefused as refusal:
            return _refused(refusal)
        invitation.refresh_from_db()
        return Response(InvitationSerializer(invitation).data)


class TeamMember(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={204: None, 403: ErrorSerializer, 409: ErrorSerializer})
    def delete(self, request: Request, slug: str, team: str, username: str) -> Response:
        """Leave the team (your own username) or, as its creator, remove a member.

        Refused once the team has submitted to the benchmark since the member joined.
        """
        member = get_object_or_404(get_user_model(), username=username)
        try:
            remove_member(team=_team(slug, team), member=member, by=request.user)
        except TeamRefused as refusal:
            return _refused(refusal)
        return Response(status=status.HTTP_204_NO_CONTENT)
