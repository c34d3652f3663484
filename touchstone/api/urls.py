from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from touchstone import converters  # noqa: F401  (registers the ``id`` path converter used below)
from touchstone.api import about, standing, status_views, submission_views, team_views, views

app_name = "api"

urlpatterns = [
    path("about/", about.About.as_view(), name="about"),
    path("quota/", standing.Quota.as_view(), name="quota"),
    path("benchmarks/", views.BenchmarkList.as_view(), name="benchmarks"),
    path("benchmarks/<slug:slug>/", views.BenchmarkDetail.as_view(), name="benchmark"),
    path("benchmarks/<slug:slug>/progress/", views.BenchmarkProgress.as_view(), name="progress"),
    path("benchmarks/<slug:slug>/versions/<str:version>/", views.VersionDetail.as_view(), name="version"),
    path("benchmarks/<slug:slug>/versions/<str:version>/dev-split", views.DevSplit.as_view(), name="dev-split"),
    path("benchmarks/<slug:slug>/versions/<str:version>/spec", views.Spec.as_view(), name="spec"),
    path("benchmarks/<slug:slug>/versions/<str:version>/croissant.json", views.Croissant.as_view(), name="croissant"),
    path("benchmarks/<slug:slug>/versions/<str:version>/leaderboard/", views.Leaderboard.as_view(), name="leaderboard"),
    path("benchmarks/<slug:slug>/versions/<str:version>/compare/", views.Compare.as_view(), name="compare"),
    path("benchmarks/<slug:slug>/versions/<str:version>/export/", views.BoardExport.as_view(), name="board-export"),
    path("benchmarks/<slug:slug>/versions/<str:version>/changes/", views.VersionChanges.as_view(), name="changes"),
    path("benchmarks/<slug:slug>/versions/<str:version>/diff/", views.VersionDiff.as_view(), name="version-diff"),
    path("submissions/", submission_views.SubmissionCreate.as_view(), name="submissions"),
    path("submissions/<id:pk>/", submission_views.SubmissionDetail.as_view(), name="submission"),
    path("submissions/<id:pk>/provenance/", submission_views.SubmissionProvenance.as_view(), name="provenance"),
    path(
        "submissions/<id:pk>/provenance/private/",
        submission_views.SubmissionPrivateProvenance.as_view(),
        name="private-provenance",
    ),
    path("submissions/<id:pk>/breakdowns/", submission_views.SubmissionBreakdowns.as_view(), name="breakdowns"),
    path("submissions/<id:pk>/report/", submission_views.SubmissionReport.as_view(), name="report"),
    path("submissions/<id:pk>/withdraw/", submission_views.SubmissionWithdraw.as_view(), name="withdraw"),
    path("submissions/<id:pk>/restore/", submission_views.SubmissionRestore.as_view(), name="restore"),
    path("submissions/<id:pk>/final/", submission_views.SubmissionFinal.as_view(), name="final"),
    path("status/", status_views.Status.as_view(), name="status"),
    path("teams/", team_views.MyTeams.as_view(), name="teams"),
    path("teams/invitations/<id:pk>/accept/", team_views.InvitationAnswer.as_view(answer="accept"), name="accept"),
    path("teams/invitations/<id:pk>/decline/", team_views.InvitationAnswer.as_view(answer="decline"), name="decline"),
    path("benchmarks/<slug:slug>/teams/", team_views.TeamList.as_view(), name="team-list"),
    path("benchmarks/<slug:slug>/teams/<slug:team>/", team_views.TeamDetail.as_view(), name="team"),
    path("benchmarks/<slug:slug>/teams/<slug:team>/invitations/", team_views.TeamInvite.as_view(), name="invite"),
    path(
        "benchmarks/<slug:slug>/teams/<slug:team>/members/<str:username>/",
        team_views.TeamMember.as_view(),
        name="team-member",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file, which the Content-Security-Policy allows.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
