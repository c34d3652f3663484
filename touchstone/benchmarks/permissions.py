"""Who may change a benchmark's versions: the one check every page, admin action and command uses.

Every life-cycle action (creating a draft, viewing a draft and its review, publishing,
freezing, deprecating, discarding a draft) belongs to the benchmark's maintainers and to
staff (``Benchmark.is_maintained_by``). The management commands act as the site operator
unless given ``--user``, in which case they check that user like the site does.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from touchstone.benchmarks.models import Benchmark

ACTIONS = {
    "create_draft": "create a draft version of",
    "view_draft": "see drafts and reviews of",
    "publish": "publish versions of",
    "freeze": "freeze versions of",
    "deprecate": "deprecate versions of",
    "discard_draft": "discard drafts of",
}


def may(user, action: str, benchmark: Benchmark) -> bool:
    """Whether ``user`` may take ``action`` (a key of ``ACTIONS``) on ``benchmark``'s versions."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    return benchmark.is_maintained_by(user)


def require(user, action: str, benchmark: Benchmark) -> None:
    """Raise ``PermissionDenied`` (a 403 on the site) unless ``user`` may take ``action``."""
    if not may(user, action, benchmark):
        raise PermissionDenied(
            f"only maintainers of {benchmark.slug} (and staff) may {ACTIONS[action]} it; "
            "ask one of them or a site administrator to add you"
        )
