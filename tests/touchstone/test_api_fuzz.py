"""Property-based requests from the live OpenAPI schema: no server error, every answer as documented.

schemathesis reads ``/api/v1/schema/`` from the site itself and draws requests for every
operation (paths, query parameters, bodies), half of them aimed at the real benchmark, version
and submissions, and half of the reads made with the owner's API token, so that the answers
are not all 404s and 401s. Each answer must not be a 5xx, and its
status, content type and body must be the ones the schema documents. ``EXAMPLES_PER_OPERATION``
bounds the run (about 20 operations); raise it by hand for a longer search.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import checks

from tests.touchstone.ledger import record_result
from touchstone.submissions.teams import create_team

EXAMPLES_PER_OPERATION = int(os.environ.get("TOUCHSTONE_FUZZ_EXAMPLES", "25"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def site(version, researcher):
    """The published digits version with two scored submissions, and the schema the site serves."""
    scored = [
        record_result(version, researcher, accuracy=accuracy, seed=seed) for seed, accuracy in ((1, 0.9), (2, 0.7))
    ]
    token = Token.objects.create(user=researcher).key
    founder = get_user_model().objects.create_user("grace", "grace@example.org", "a-long-password-2")
    create_team(user=founder, benchmark=version.benchmark, name="Owls")
    # The WSGI handler closes the database connection after every request, which would close
    # the test's transaction under it; Django's test client keeps it open the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        app = get_wsgi_application()
        schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", app)
        yield {
            "schema": schema,
            "app": app,
            "ids": [row.pk for row in scored],
            "version": version.version,
            "token": token,
        }
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _aim(case, real: dict, site: dict) -> None:
    """Point a drawn case at things that exist, where the draw asked for it."""
    for name in list(case.path_parameters or {}):
        if not real.get(name):
            continue
        if name == "slug":
            case.path_parameters[name] = "digits"
        elif name == "version":
            case.path_parameters[name] = site["version"]
        elif name == "team":
            case.path_parameters[name] = "owls"
        elif name in {"id", "pk"}:
            case.path_parameters[name] = site["ids"][0]
    if case.query is not None and real.get("query"):
        for key in ("a", "b"):
            if key in case.query:
                case.query[key] = site["ids"][0 if key == "a" else 1]
        for key, value in (("benchmark", "digits"), ("version", site["version"]), ("mine", "1")):
            if key in case.query:
                case.query[key] = value
    # Reads are also made as the researcher who owns the submissions, so the views that need an
    # account answer with their work and not only with 401; writes stay anonymous.
    if real.get("token") and case.method.upper() == "GET":
        case.headers = {**(case.headers or {}), "Authorization": f"Token {site['token']}"}


def test_no_operation_answers_a_server_error_or_anything_undocumented(site):
    operations = [result.ok() for result in site["schema"].get_all_operations()]
    assert len(operations) >= 15
    calls = {"made": 0}
    answered: set[tuple[str, str]] = set()
    for operation in operations:
        aim = st.fixed_dictionaries(
            {name: st.booleans() for name in ("slug", "version", "team", "id", "query", "token")}
        )

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), real=aim)
        def check(case, real):
            cache.clear()  # the rate limits would otherwise answer most of the run with 429
            _aim(case, real, site)
            response = case.call_and_validate(app=site["app"], checks=CHECKS)
            calls["made"] += 1
            if response.status_code < 300:
                answered.add((case.method, case.path))

        check()
    print(f"schemathesis: {calls['made']} requests over {len(operations)} operations, {len(answered)} answered 2xx")
    assert calls["made"] >= len(operations) * min(EXAMPLES_PER_OPERATION, 5)
    # The run reached the views' own work, not only their refusals.
    assert len(answered) >= len(operations) // 2, sorted(answered)
