"""The submissions app's models, one module per subject; import them from here.

Django finds an app's models in its ``models`` module, so every model is imported below, and
the rest of the site imports them from this package as from any app's ``models``.
"""

from touchstone.submissions.models.submissions import (
    BaselineCheck,
    BaselinePin,
    EvaluationRun,
    MetricResult,
    Submission,
    SubmissionQuerySet,
)
from touchstone.submissions.models.teams import Team, TeamInvitation, TeamMembership, is_teammate, teams_q
from touchstone.submissions.models.workers import WorkerRecord

__all__ = [
    "BaselineCheck",
    "BaselinePin",
    "EvaluationRun",
    "MetricResult",
    "Submission",
    "SubmissionQuerySet",
    "Team",
    "TeamInvitation",
    "TeamMembership",
    "WorkerRecord",
    "is_teammate",
    "teams_q",
]
