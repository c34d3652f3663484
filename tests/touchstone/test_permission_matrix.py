"""Every URL of the site, requested as every role: statuses, what never leaks, refused writes.

One site is built for the module (``permission_world``) and every request of the matrix
(``permission_matrix``) is made once per role inside a transaction rolled back afterwards; the
tests below read the recorded answers. Requests to ``/api/`` carry the role's API token, as
scripts send them; the pages use a signed-in session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings

from .permission_matrix import SAME, SKIP, Case, every_route, matrix
from .permission_world import ROLES, World, build_world, stored_state

# The module's fixture builds its site in Django's test database, which pytest-django creates
# only for a run that holds a test marked for it.
pytestmark = pytest.mark.django_db

HIDDEN_ID = re.compile(rb"digits-\d{4}")


@dataclass
class Answer:
    case: Case
    role: str
    label: str
    status: int
    body: bytes
    changed: list[str]


def _client(world: World, role: str, api: bool) -> Client:
    if role == "anonymous":
        return Client(raise_request_exception=False)
    if api:
        return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    client = Client(raise_request_exception=False)
    client.force_login(world.users[role])
    return client


def _changes(before: tuple[dict, dict], after: tuple[dict, dict]) -> list[str]:
    rows_before, files_before = before
    rows_after, files_after = after
    changed = [label for label in rows_after if rows_after[label] != rows_before.get(label)]
    changed += [f"file {name}" for name in sorted(set(files_before) ^ set(files_after))]
    changed += [
        f"file {name}" for name in files_before if name in files_after and files_before[name] != files_after[name]
    ]
    return changed


def _body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


@pytest.fixture(scope="module")
def answers(django_db_setup, django_db_blocker, digits_folder, tmp_path_factory) -> tuple[World, list[Answer]]:
    root = tmp_path_factory.mktemp("permission-matrix")
    settings = {"PRIVATE_STORAGE_ROOT": root / "private", "BOOTSTRAP_RESAMPLES": 200, "EVALUATION_SUITE": False}
    recorded: list[Answer] = []
    with django_db_blocker.unblock(), override_settings(**settings):
        cache.clear()
        with transaction.atomic():
            world = build_world(digits_folder, root)
            clients = {(role, api): _client(world, role, api) for role in ROLES for api in (False, True)}
            # Safe requests first, then the unsafe ones, each compared with the state the one
            # before it left (one snapshot per request).
            cases = sorted(matrix(), key=lambda case: case.unsafe)
            state = None
            for case in cases:
                for role in ROLES:
                    if case.expect[role] == SKIP:
                        continue
                    path = case.path(world)
                    client = clients[(role, path.startswith("/api/"))]
                    if case.unsafe and state is None:
                        state = stored_state()
                    response = client.generic(
                        case.method,
                        path,
                        data=b"" if case.data is None else urlencode(case.data).encode(),
                        content_type="application/x-www-form-urlencoded",
                    )
                    changed = []
                    if case.unsafe:
                        after = stored_state()
                        changed, state = _changes(state, after), after
                    recorded.append(
                        Answer(case, role, case.label(world), response.status_code, _body(response), changed)
                    )
            transaction.set_rollback(True)
        cache.clear()
    return world, recorded


def test_every_url_pattern_has_an_entry_in_the_matrix():
    routes = every_route()
    covered = {case.route for case in matrix()}
    missing = sorted(routes - covered)
    stale = sorted(covered - routes)
    assert not missing, f"URL patterns with no entry in tests/touchstone/permission_matrix.py: {missing}"
    assert not stale, f"matrix entries for URL patterns the site no longer has: {stale}"


def test_each_role_gets_the_expected_status_from_every_url(answers):
    _, recorded = answers
    wrong = [
        f"{a.label} as {a.role}: {a.status}, expected {a.case.expect[a.role]}"
        for a in recorded
        if a.case.expect[a.role] != SAME and a.status != a.case.expect[a.role]
    ]
    same = {}
    for a in recorded:
        if a.case.expect[a.role] == SAME:
            same.setdefault(a.label, set()).add(a.status)
    wrong += [f"{label}: differs by role ({sorted(statuses)})" for label, statuses in same.items() if len(statuses) > 1]
    assert not wrong, "\n".join(wrong)


def test_refused_writes_change_no_row_and_no_file(answers):
    _, recorded = answers
    unsafe = [a for a in recorded if a.case.unsafe]
    assert len(unsafe) > 100
    changed = [f"{a.label} as {a.role} ({a.status}) changed {a.changed}" for a in unsafe if a.changed]
    assert not changed, "\n".join(changed)


def test_the_hidden_split_is_served_to_nobody(answers):
    world, recorded = answers
    leaks = [f"{a.label} as {a.role}" for a in recorded for piece in world.hidden_input_slices if piece in a.body]
    assert not leaks, "hidden inputs in: " + ", ".join(leaks)


def test_hidden_item_ids_reach_only_maintainers_on_their_review_and_telemetry_pages(answers):
    """The review and the item fit name hidden items to the benchmark's maintainers and staff; the
    admin's page of a version shows staff the same stored review. Nothing else names one."""
    world, recorded = answers
    allowed = {"/review/", "/telemetry/"}
    leaks = []
    for a in recorded:
        named = {match.decode() for match in HIDDEN_ID.findall(a.body)} & world.hidden_ids
        if not named:
            continue
        if a.role in {"maintainer", "staff"} and any(part in a.label for part in allowed):
            continue
        if a.role == "staff" and "/admin/benchmarks/benchmarkversion/" in a.label:
            continue
        leaks.append(f"{a.label} as {a.role}: {sorted(named)[:3]}")
    assert not leaks, "\n".join(leaks)


def test_model_files_and_per_item_outcomes_are_served_to_nobody(answers):
    world, recorded = answers
    secrets = list(world.model_bytes.values()) + world.outcome_slices
    leaks = [f"{a.label} as {a.role}" for a in recorded for piece in secrets if piece[:64] in a.body]
    assert not leaks, "\n".join(leaks)


def test_private_submissions_are_shown_to_their_team_and_to_staff_in_the_admin_only(answers):
    world, recorded = answers
    leaks = []
    for a in recorded:
        for name, owner in world.private_names.items():
            if name.encode() not in a.body:
                continue
            # The owner's teammate sees the team's private submissions as the owner does.
            teammate = owner == "owner" and a.role == "team"
            if a.role == owner or teammate or (a.role == "staff" and a.label.split()[1].startswith("/admin/")):
                continue
            leaks.append(f"{name!r} in {a.label} as {a.role}")
        if world.error_marker.encode() in a.body and a.role not in {"owner", "team", "staff"}:
            leaks.append(f"the failure's text in {a.label} as {a.role}")
    assert not leaks, "\n".join(leaks)


def test_the_private_provenance_record_reaches_staff_only(answers):
    world, recorded = answers
    leaks = [
        f"{a.label} as {a.role}"
        for a in recorded
        if world.private_record_marker.encode() in a.body and a.role != "staff"
    ]
    seen_by_staff = [a.label for a in recorded if world.private_record_marker.encode() in a.body]
    assert not leaks, "\n".join(leaks)
    assert any("provenance/private/" in label for label in seen_by_staff)


def test_api_tokens_are_shown_to_their_account_only(answers):
    world, recorded = answers
    leaks = [
        f"{role}'s token in {a.label} as {a.role}"
        for a in recorded
        for role, key in world.tokens.items()
        if key.encode() in a.body and a.role != role and not (a.role == "staff" and "/admin/" in a.label)
    ]
    assert not leaks, "\n".join(leaks)


def test_the_status_page_shows_a_maintainer_of_another_benchmark_none_of_this_ones_rows(answers):
    world, recorded = answers
    queued = world.pk("owner_queued")
    for a in recorded:
        if a.label.endswith("/status/") and a.status == 200:
            shown = f"#{queued}" in a.body.decode() or f'"submission":{queued},' in a.body.decode()
            assert shown == (a.role in {"maintainer", "staff"}), f"{a.label} as {a.role}"
