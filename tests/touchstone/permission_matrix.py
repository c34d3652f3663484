"""Who gets what from every URL of the site: the permission matrix, one entry per URL pattern.

Each pattern the resolver knows (the admin's, the API's and the pages') maps to the requests
made to it and the status each role gets. A pattern added to the site without an entry here
fails ``test_every_url_pattern_has_an_entry_in_the_matrix``. Unsafe requests are made only as
roles that may not make them, and must change nothing.

``team`` is a member of ``owner``'s team: it sees the team's private submissions as ``owner`` does
and may choose the team's final submissions, but may not withdraw ``owner``'s; on everything else it
gets what ``other`` gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

from .permission_world import ROLES, World

Expectation = dict[str, int]

#: The request is not made as this role (an unsafe request the role has the right to make).
SKIP = 0
#: Any status, as long as every role gets the same one (``/healthz`` says how the site is).
SAME = -1


@dataclass(frozen=True)
class Case:
    route: str
    method: str
    path: Callable[[World], str]
    expect: Expectation
    # Sent as the body of an unsafe request (form fields).
    data: dict | None = None

    @property
    def unsafe(self) -> bool:
        return self.method in {"POST", "PUT", "PATCH", "DELETE"}

    def label(self, world: World) -> str:
        return f"{self.method} {self.path(world)}"


def roles(default: int, **per_role: int) -> Expectation:
    """``default`` for every role but those named; ``team`` gets what ``other`` gets unless named.

    ``other`` is a stranger to ``owner``'s things and ``team`` a member of ``owner``'s team, so on
    them both must get the same; ``team`` is named only for ``other``'s own things.
    """
    table = {role: per_role.get(role, default) for role in ROLES}
    if "team" not in per_role:
        table["team"] = table["other"]
    return table


EVERYONE = roles(200)
NOBODY_404 = roles(404)
SIGNED_IN = roles(200, anonymous=302)
MAINTAINERS = roles(403, anonymous=302, maintainer=200, staff=200)
MAINTAINERS_ONLY_WRITE = roles(403, anonymous=302)
STAFF_ADMIN = roles(302, staff=200)


def owner_page(ok: int = 200) -> Expectation:
    """A private submission of ``owner``'s: shown to the owner and the owner's teammates."""
    return roles(404, owner=ok, team=ok)


# The site's own URLs, by the route the resolver spells.
def _site_cases() -> list[Case]:
    def version(name: str) -> Callable[[World], str]:
        return lambda w: f"/benchmarks/{w.slug}/{getattr(w, name)}/"

    def api_version(name: str, tail: str = "") -> Callable[[World], str]:
        return lambda w: f"/api/v1/benchmarks/{w.slug}/versions/{getattr(w, name)}/{tail}"

    def page(submission: str, tail: str = "") -> Callable[[World], str]:
        return lambda w: f"/submissions/{w.pk(submission)}/{tail}"

    def api(submission: str, tail: str = "") -> Callable[[World], str]:
        return lambda w: f"/api/v1/submissions/{w.pk(submission)}/{tail}"

    def compare_query(w: World) -> str:
        return f"?a={w.pk('owner_released')}&b={w.pk('other_released')}"

    def private_pair(w: World) -> str:
        return f"?a={w.pk('owner_queued')}&b={w.pk('other_released')}"

    b = "benchmarks/<slug:slug>/"
    v = "benchmarks/<slug:slug>/<str:version>/"
    av = "api/v1/benchmarks/<slug:slug>/versions/<str:version>/"
    s = "submissions/<id:pk>/"
    a = "api/v1/submissions/<id:pk>/"
    # Maintainers and staff may press these: only the refused roles' requests are sent.
    refused_write = roles(403, anonymous=302, maintainer=SKIP, staff=SKIP)
    cases = [
        Case("", "GET", lambda w: "/", EVERYONE),
        Case(b, "GET", lambda w: f"/benchmarks/{w.slug}/", EVERYONE),
        Case(b + "drafts/new/", "GET", lambda w: f"/benchmarks/{w.slug}/drafts/new/", MAINTAINERS),
        Case(b + "drafts/new/", "POST", lambda w: f"/benchmarks/{w.slug}/drafts/new/", refused_write),
        Case(v, "GET", version("open"), EVERYONE),
        Case(v, "GET", version("frozen"), EVERYONE),
        # Drafts have no public page, not even for their maintainers: they open the review.
        Case(v, "GET", version("draft"), NOBODY_404),
        Case(v + "review/", "GET", lambda w: f"/benchmarks/{w.slug}/{w.draft}/review/", MAINTAINERS),
        Case(v + "telemetry/", "GET", lambda w: f"/benchmarks/{w.slug}/{w.frozen}/telemetry/", MAINTAINERS),
        Case(v + "compare/", "GET", lambda w: f"/benchmarks/{w.slug}/{w.open}/compare/{compare_query(w)}", EVERYONE),
        Case(v + "submit/", "GET", lambda w: f"/benchmarks/{w.slug}/{w.open}/submit/", SIGNED_IN),
        Case(v + "submit/", "POST", lambda w: f"/benchmarks/{w.slug}/{w.open}/submit/", roles(200, anonymous=302)),
        Case("submissions/", "GET", lambda w: "/submissions/", SIGNED_IN),
        # The status page: maintainers of any benchmark (each sees their own rows) and staff.
        Case(
            "status/",
            "GET",
            lambda w: "/status/",
            roles(403, anonymous=302, other_maintainer=200, maintainer=200, staff=200),
        ),
        Case(
            "api/v1/status/",
            "GET",
            lambda w: "/api/v1/status/",
            roles(403, anonymous=401, other_maintainer=200, maintainer=200, staff=200),
        ),
        Case(s, "GET", page("owner_queued"), owner_page()),
        Case(s, "GET", page("owner_failed"), owner_page()),
        Case(s, "GET", page("owner_withdrawn"), owner_page()),
        Case(s, "GET", page("other_queued"), roles(404, other=200, team=404)),
        Case(s, "GET", page("owner_released"), EVERYONE),
        Case(s, "GET", page("owner_frozen"), EVERYONE),
        Case(a, "GET", api("owner_queued"), owner_page()),
        Case(a, "GET", api("owner_failed"), owner_page()),
        Case(a, "GET", api("owner_released"), EVERYONE),
        Case(a, "GET", api("owner_frozen"), EVERYONE),
        Case(a + "provenance/", "GET", api("owner_released", "provenance/"), EVERYONE),
        Case(a + "provenance/", "GET", api("owner_released", "provenance/?download=1"), EVERYONE),
        Case(a + "provenance/", "GET", api("owner_queued", "provenance/"), owner_page(404)),
        Case(a + "provenance/private/", "GET", api("owner_released", "provenance/private/"), roles(403, staff=200)),
        Case(a + "provenance/private/", "GET", api("owner_queued", "provenance/private/"), roles(403, staff=404)),
        Case(a + "breakdowns/", "GET", api("owner_frozen", "breakdowns/"), EVERYONE),
        Case(a + "breakdowns/", "GET", api("owner_queued", "breakdowns/"), owner_page(404)),
        Case(a + "report/", "GET", api("owner_released", "report/"), EVERYONE),
        Case(a + "report/", "GET", api("owner_failed", "report/"), owner_page()),
        Case("api/v1/benchmarks/", "GET", lambda w: "/api/v1/benchmarks/", EVERYONE),
        Case("api/v1/benchmarks/<slug:slug>/", "GET", lambda w: f"/api/v1/benchmarks/{w.slug}/", EVERYONE),
        Case(
            "api/v1/benchmarks/<slug:slug>/progress/",
            "GET",
            lambda w: f"/api/v1/benchmarks/{w.slug}/progress/",
            EVERYONE,
        ),
        Case("api/v1/schema/", "GET", lambda w: "/api/v1/schema/", EVERYONE),
        Case("api/v1/about/", "GET", lambda w: "/api/v1/about/", EVERYONE),
        # A redirect to the static icon, for everyone.
        Case("favicon.ico", "GET", lambda w: "/favicon.ico", roles(302)),
        Case("api/v1/docs/", "GET", lambda w: "/api/v1/docs/", EVERYONE),
        Case("accounts/signup/", "GET", lambda w: "/accounts/signup/", EVERYONE),
        Case("accounts/login/", "GET", lambda w: "/accounts/login/", EVERYONE),
        # A GET asks to confirm; only a POST logs out (the matrix's clients stay signed in after it).
        Case("accounts/logout/", "GET", lambda w: "/accounts/logout/", EVERYONE),
        Case("accounts/token/", "GET", lambda w: "/accounts/token/", SIGNED_IN),
        Case("accounts/token/", "POST", lambda w: "/accounts/token/", roles(SKIP, anonymous=302)),
        Case("accounts/settings/", "GET", lambda w: "/accounts/settings/", SIGNED_IN),
        Case("accounts/settings/", "POST", lambda w: "/accounts/settings/", roles(SKIP, anonymous=302)),
        # A made-up confirmation link confirms nothing, for anyone.
        Case("accounts/confirm/<str:token>/", "GET", lambda w: "/accounts/confirm/not-a-token/", roles(SAME)),
        Case("accounts/password-reset/", "GET", lambda w: "/accounts/password-reset/", EVERYONE),
        Case("accounts/password-reset/sent/", "GET", lambda w: "/accounts/password-reset/sent/", EVERYONE),
        Case(
            "accounts/password-reset/<uidb64>/<token>/",
            "GET",
            lambda w: "/accounts/password-reset/MQ/not-a-token/",
            EVERYONE,
        ),
        Case("accounts/password-reset/done/", "GET", lambda w: "/accounts/password-reset/done/", EVERYONE),
        Case("api/v1/quota/", "GET", lambda w: f"/api/v1/quota/?benchmark={w.slug}", roles(200, anonymous=401)),
        Case("api/v1/submissions/", "GET", lambda w: "/api/v1/submissions/?mine=1", roles(200, anonymous=401)),
        # Undoing a withdrawal: the owner's alone (``owner_withdrawn`` was withdrawn before it was scored).
        Case(s + "restore/", "POST", page("owner_withdrawn", "restore/"), roles(404, anonymous=302, owner=SKIP)),
        Case(
            a + "restore/", "POST", api("owner_withdrawn", "restore/"), roles(404, anonymous=401, owner=SKIP, team=403)
        ),
    ]
    for name in ("open", "frozen"):
        cases += [
            Case(av, "GET", api_version(name), EVERYONE),
            Case(av + "dev-split", "GET", lambda w, n=name: _api_version(w, n) + "dev-split", EVERYONE),
            Case(av + "spec", "GET", lambda w, n=name: _api_version(w, n) + "spec", EVERYONE),
            Case(av + "croissant.json", "GET", lambda w, n=name: _api_version(w, n) + "croissant.json", EVERYONE),
            Case(av + "leaderboard/", "GET", api_version(name, "leaderboard/"), EVERYONE),
            Case(av + "leaderboard/", "GET", api_version(name, "leaderboard/?format=csv"), EVERYONE),
            Case(av + "export/", "GET", api_version(name, "export/?format=json"), EVERYONE),
            Case(av + "export/", "GET", api_version(name, "export/?format=csv"), EVERYONE),
        ]
    cases += [
        Case(av + "compare/", "GET", lambda w: _api_version(w, "open") + "compare/" + compare_query(w), EVERYONE),
        # The open version re-evaluated no entry of the frozen one: the same 404 for everyone.
        # A private submission is no board entry: every role gets the same refusal, naming nothing.
        Case(av + "compare/", "GET", lambda w: _api_version(w, "open") + "compare/" + private_pair(w), roles(SAME)),
        Case(v + "compare/", "GET", lambda w: f"/benchmarks/{w.slug}/{w.open}/compare/{private_pair(w)}", EVERYONE),
        Case(av + "changes/", "GET", api_version("open", "changes/"), NOBODY_404),
        Case(av + "diff/", "GET", api_version("open", "diff/"), EVERYONE),
        Case(av + "diff/", "GET", api_version("frozen", "diff/"), NOBODY_404),
    ]
    # A draft is served by no public page or endpoint, to anyone.
    for tail in ("", "dev-split", "spec", "croissant.json", "leaderboard/", "export/", "changes/", "diff/"):
        cases.append(Case(av + tail, "GET", api_version("draft", tail), NOBODY_404))
    # Life-cycle buttons: POST only, maintainers only. Refused roles change nothing.
    for action, target in (("publish", "draft"), ("discard", "draft"), ("freeze", "open"), ("deprecate", "open")):
        route = v + f"{action}/"
        cases += [
            Case(
                route, "POST", lambda w, a=action, t=target: f"/benchmarks/{w.slug}/{getattr(w, t)}/{a}/", refused_write
            ),
            Case(
                route,
                "GET",
                lambda w, a=action, t=target: f"/benchmarks/{w.slug}/{getattr(w, t)}/{a}/",
                roles(405, anonymous=302),
            ),
        ]
    # The owner's buttons: anyone else is refused (404 on the pages: the row is looked up by owner).
    # A teammate may choose the team's final submissions, not withdraw the owner's.
    # Withdrawing asks its owner to confirm on a page first.
    get_button = {"withdraw": roles(404, anonymous=302, owner=200), "final": roles(405, anonymous=302)}
    for action, teammate in (("withdraw", {}), ("final", {"team": SKIP})):
        cases += [
            Case(
                s + f"{action}/",
                "POST",
                page("owner_released", f"{action}/"),
                roles(404, anonymous=302, owner=SKIP, **teammate),
            ),
            Case(s + f"{action}/", "GET", page("owner_released", f"{action}/"), get_button[action]),
            Case(
                a + f"{action}/",
                "POST",
                api("owner_released", f"{action}/"),
                roles(403, anonymous=401, owner=SKIP, **teammate),
            ),
            Case(
                a + f"{action}/",
                "POST",
                api("owner_queued", f"{action}/"),
                roles(404, anonymous=401, owner=SKIP, **(teammate or {"team": 403})),
            ),
        ]
    cases.append(
        Case(a + "final/", "DELETE", api("owner_released", "final/"), roles(403, anonymous=401, owner=SKIP, team=SKIP))
    )
    # Teams: a researcher's own list and invitations, every team's public page, and the members'
    # buttons (refused to everyone else, who may not learn or change who is in the team).
    t = "benchmarks/<slug:slug>/teams/<slug:team>/"
    team_page = lambda w: f"/benchmarks/{w.slug}/teams/ada/"  # noqa: E731
    team_api = lambda w: f"/api/v1/benchmarks/{w.slug}/teams/ada/"  # noqa: E731
    members_only = roles(302, owner=SKIP, team=SKIP)
    cases += [
        Case("teams/", "GET", lambda w: "/teams/", SIGNED_IN),
        Case("teams/", "POST", lambda w: "/teams/", SIGNED_IN),
        Case(
            "teams/invitations/<id:pk>/<str:answer>/",
            "POST",
            lambda w: "/teams/invitations/999999/accept/",
            roles(404, anonymous=302),
        ),
        Case(
            "teams/invitations/<id:pk>/<str:answer>/",
            "GET",
            lambda w: "/teams/invitations/999999/accept/",
            roles(405, anonymous=302),
        ),
        Case(t, "GET", team_page, EVERYONE),
        Case(t + "invite/", "POST", lambda w: team_page(w) + "invite/", members_only, data={"username": "tess"}),
        Case(t + "remove/", "POST", lambda w: team_page(w) + "remove/", members_only, data={"username": "tess"}),
        Case("api/v1/teams/", "GET", lambda w: "/api/v1/teams/", roles(200, anonymous=401)),
        Case("api/v1/teams/", "POST", lambda w: "/api/v1/teams/", roles(400, anonymous=401)),
        Case(
            "api/v1/teams/invitations/<id:pk>/accept/",
            "POST",
            lambda w: "/api/v1/teams/invitations/999999/accept/",
            roles(404, anonymous=401),
        ),
        Case(
            "api/v1/teams/invitations/<id:pk>/decline/",
            "POST",
            lambda w: "/api/v1/teams/invitations/999999/decline/",
            roles(404, anonymous=401),
        ),
        Case("api/v1/benchmarks/<slug:slug>/teams/", "GET", lambda w: f"/api/v1/benchmarks/{w.slug}/teams/", EVERYONE),
        Case("api/v1/" + t, "GET", team_api, EVERYONE),
        Case(
            "api/v1/" + t + "invitations/",
            "POST",
            lambda w: team_api(w) + "invitations/",
            roles(403, anonymous=401, owner=SKIP, team=SKIP),
            data={"username": "grace"},
        ),
        Case(
            "api/v1/" + t + "members/<str:username>/",
            "DELETE",
            lambda w: team_api(w) + "members/tess/",
            roles(403, anonymous=401, owner=SKIP, team=SKIP),
        ),
    ]
    cases.append(Case("api/v1/submissions/", "POST", lambda w: "/api/v1/submissions/", roles(400, anonymous=401)))
    cases.append(Case("healthz", "GET", lambda w: "/healthz", roles(SAME)))
    # Methods no view takes: refused alike for everyone (the views that need an account first
    # ask visitors for one), and nothing changes.
    not_allowed = roles(405)
    account_first = roles(405, anonymous=401)
    for route, path, methods, expect in (
        (a, api("owner_released"), ("PUT", "PATCH", "DELETE"), not_allowed),
        (a, api("owner_queued"), ("PUT", "PATCH", "DELETE"), not_allowed),
        (a + "final/", api("owner_released", "final/"), ("PUT", "PATCH"), account_first),
        (a + "withdraw/", api("owner_released", "withdraw/"), ("PUT", "PATCH", "DELETE"), account_first),
        (a + "provenance/", api("owner_released", "provenance/"), ("PUT", "DELETE"), not_allowed),
        ("api/v1/submissions/", lambda w: "/api/v1/submissions/", ("PUT", "PATCH", "DELETE"), account_first),
        (av, api_version("open"), ("PUT", "PATCH", "DELETE"), not_allowed),
        (av + "leaderboard/", api_version("open", "leaderboard/"), ("POST", "DELETE"), not_allowed),
        ("api/v1/benchmarks/<slug:slug>/", lambda w: f"/api/v1/benchmarks/{w.slug}/", ("PUT", "DELETE"), not_allowed),
        ("api/v1/status/", lambda w: "/api/v1/status/", ("POST", "DELETE"), not_allowed),
        (
            v + "publish/",
            lambda w: f"/benchmarks/{w.slug}/{w.draft}/publish/",
            ("PUT", "DELETE"),
            roles(405, anonymous=302),
        ),
    ):
        cases += [Case(route, method, path, expect) for method in methods]
    return cases


def _api_version(world: World, name: str) -> str:
    return f"/api/v1/benchmarks/{world.slug}/versions/{getattr(world, name)}/"


# The admin: every model registered, with its six routes. Staff get each page; everyone else is
# sent to the admin's log-in page. ``refused`` lists the pages the admin itself refuses staff
# (models whose rows are written only by the site: no add or delete).
NO_ADD_NOR_DELETE = {"add": 403, "delete": 403}
ADMIN_MODELS: dict[str, dict[str, int]] = {
    "auth/group": {},
    "auth/user": {},
    "authtoken/tokenproxy": {},
    "benchmarks/benchmark": {},
    "benchmarks/benchmarkversion": NO_ADD_NOR_DELETE,
    "submissions/submission": NO_ADD_NOR_DELETE,
    "submissions/evaluationrun": {"add": 403},
    "submissions/baselinepin": NO_ADD_NOR_DELETE,
    "submissions/baselinecheck": NO_ADD_NOR_DELETE,
    "submissions/team": NO_ADD_NOR_DELETE,
    "rankings/leaderboardsnapshot": {},
    "rankings/leaderboardentry": {},
    "rankings/ladderrelease": NO_ADD_NOR_DELETE,
}


def admin_object_id(world: World, key: str) -> str | int:
    """The primary key of a row of ``key``'s model ("app/model"), or a whole admin path."""
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType

    if key == "view_on_site":
        submission = world.submissions["owner_queued"]
        return f"/admin/r/{ContentType.objects.get_for_model(submission).pk}/{submission.pk}/"
    if key == "password":
        return f"/admin/auth/user/{world.users['owner'].pk}/password/"
    app_label, model_name = key.split("/")
    model = apps.get_model(app_label, model_name)
    if model_name == "submission":
        return world.submissions["owner_queued"].pk
    if model_name == "tokenproxy":
        # The admin keys a token by its account.
        return world.users["owner"].pk
    return model._default_manager.order_by("pk").values_list("pk", flat=True).first()


def _admin_cases() -> list[Case]:
    cases = [
        Case("admin/", "GET", lambda w: "/admin/", STAFF_ADMIN),
        Case("admin/login/", "GET", lambda w: "/admin/login/", roles(200, staff=302)),
        # Django logs out on POST only; everyone but staff is sent to the admin's log-in first.
        Case("admin/logout/", "GET", lambda w: "/admin/logout/", roles(302, staff=405)),
        Case("admin/password_change/", "GET", lambda w: "/admin/password_change/", STAFF_ADMIN),
        Case("admin/password_change/done/", "GET", lambda w: "/admin/password_change/done/", STAFF_ADMIN),
        Case("admin/autocomplete/", "GET", lambda w: "/admin/autocomplete/", roles(302, staff=403)),
        Case("admin/jsi18n/", "GET", lambda w: "/admin/jsi18n/", STAFF_ADMIN),
        Case(
            "admin/r/<path:content_type_id>/<path:object_id>/",
            "GET",
            lambda w: admin_object_id(w, "view_on_site"),
            roles(302),
        ),
        Case(
            "admin/^(?P<app_label>auth|authtoken|benchmarks|submissions|rankings)/$",
            "GET",
            lambda w: "/admin/submissions/",
            STAFF_ADMIN,
        ),
        Case("admin/(?P<url>.*)$", "GET", lambda w: "/admin/submissions/nothing-here/", roles(302, staff=404)),
        Case("admin/auth/user/<id>/password/", "GET", lambda w: admin_object_id(w, "password"), STAFF_ADMIN),
        Case(
            "admin/auth/user/<id>/password/",
            "POST",
            lambda w: admin_object_id(w, "password"),
            roles(302, staff=SKIP),
        ),
    ]
    for model, staff in ADMIN_MODELS.items():
        base = f"admin/{model}/"
        obj = "admin/" + model + "/<path:object_id>/"

        def url(w: World, tail: str, m: str = model) -> str:
            return f"/admin/{m}/{tail}".replace("{id}", str(admin_object_id(w, m)))

        for route, tail, methods in (
            (base, "", ("GET",)),
            (base + "add/", "add/", ("GET", "POST")),
            (obj + "history/", "{id}/history/", ("GET",)),
            (obj + "delete/", "{id}/delete/", ("GET", "POST")),
            (obj + "change/", "{id}/change/", ("GET", "POST")),
            (obj, "{id}/", ("GET",)),
        ):
            page = tail.split("/")[-2] if tail.count("/") > 1 else (tail.rstrip("/") or "changelist")
            ok = staff.get(page, 302 if tail == "{id}/" else 200)
            for method in methods:
                expect = roles(302, staff=ok)
                if method == "POST":
                    # Staff may write in the admin; only the refused roles' writes are sent.
                    expect = roles(302, staff=SKIP)
                cases.append(Case(route, method, lambda w, t=tail, m=model: url(w, t, m), expect, data={}))
    return cases


def matrix() -> list[Case]:
    return _site_cases() + _admin_cases()


def every_route() -> set[str]:
    """Every URL pattern of the site, spelt as the matrix keys them (prefixes joined)."""
    found: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found.add(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "")
    return found
