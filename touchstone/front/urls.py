from __future__ import annotations

from django.urls import path

from touchstone import converters  # noqa: F401  (registers the ``id`` path converter used below)
from touchstone.front import lifecycle_views, status, team_views, telemetry, views

app_name = "front"

urlpatterns = [
    path("", views.home, name="home"),
    path("benchmarks/<slug:slug>/", views.benchmark_detail, name="benchmark"),
    path("benchmarks/<slug:slug>/drafts/new/", lifecycle_views.new_draft, name="new-draft"),
    # Before the version pages, whose patterns would otherwise take "teams" for a version.
    path("benchmarks/<slug:slug>/teams/<slug:team>/", team_views.team_detail, name="team"),
    path("benchmarks/<slug:slug>/teams/<slug:team>/invite/", team_views.invite_member, name="team-invite"),
    path("benchmarks/<slug:slug>/teams/<slug:team>/remove/", team_views.remove, name="team-remove"),
    path("benchmarks/<slug:slug>/<str:version>/", views.version_detail, name="version"),
    path("benchmarks/<slug:slug>/<str:version>/review/", lifecycle_views.review, name="review"),
    path("benchmarks/<slug:slug>/<str:version>/publish/", lifecycle_views.publish, name="publish"),
    path("benchmarks/<slug:slug>/<str:version>/discard/", lifecycle_views.discard, name="discard"),
    path("benchmarks/<slug:slug>/<str:version>/freeze/", lifecycle_views.freeze, name="freeze"),
    path("benchmarks/<slug:slug>/<str:version>/deprecate/", lifecycle_views.deprecate, name="deprecate"),
    path("benchmarks/<slug:slug>/<str:version>/submit/", views.upload, name="upload"),
    path("benchmarks/<slug:slug>/<str:version>/compare/", views.compare, name="compare"),
    path("benchmarks/<slug:slug>/<str:version>/telemetry/", telemetry.item_telemetry_page, name="telemetry"),
    path("status/", status.status_page, name="status"),
    path("submissions/", views.my_submissions, name="my-submissions"),
    path("teams/", team_views.my_teams, name="teams"),
    path("teams/invitations/<id:pk>/<str:answer>/", team_views.answer_invitation, name="invitation"),
    path("submissions/<id:pk>/", views.submission_detail, name="submission"),
    path("submissions/<id:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("submissions/<id:pk>/restore/", views.restore, name="restore"),
    path("submissions/<id:pk>/final/", views.choose_final, name="final"),
]
