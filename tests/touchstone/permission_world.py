"""A site with one of everything a permission can protect, for the permission matrix.

The digits benchmark has a frozen version (1.0.0), an open one (1.1.0) and a draft (1.2.0).
Two researchers (``ada`` and ``grace``) have released, scored, queued, failed and withdrawn
submissions; ``tess`` is a member of ``ada``'s team (a team of digits, with its membership rows)
and ``grace`` has a team of her own; ``otto`` maintains another benchmark, ``mia`` maintains
digits and ``sam`` is staff. Every secret a response must not carry is recorded beside: model
file bytes, outcome bytes, hidden inputs and item ids, private model names, error text, the
private provenance record and each account's API token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from evaluation.spec import load_benchmark
from touchstone.benchmarks.models import Benchmark, BenchmarkVersion
from touchstone.benchmarks.services import create_draft, publish_benchmark
from touchstone.rankings.lifecycle import freeze
from touchstone.rankings.services import refresh_leaderboard
from touchstone.storage import private_path, private_root, write_file_atomically
from touchstone.submissions.models import (
    BaselineCheck,
    BaselinePin,
    EvaluationRun,
    Submission,
    Team,
    TeamMembership,
)

from .ledger import record_result
from .lifecycle_fixture import next_folder

#: The roles of the matrix, in the order its tables are written.
ROLES = ("anonymous", "owner", "other", "team", "other_maintainer", "maintainer", "staff")

USERNAMES = {
    "owner": "ada",
    "other": "grace",
    "team": "tess",
    "other_maintainer": "otto",
    "maintainer": "mia",
    "staff": "sam",
}


@dataclass
class World:
    slug: str
    open: str
    frozen: str
    draft: str
    users: dict[str, object]
    submissions: dict[str, Submission]
    # Secret byte strings: where each may appear is decided by the matrix.
    model_bytes: dict[str, bytes] = field(default_factory=dict)
    outcome_slices: list[bytes] = field(default_factory=list)
    hidden_input_slices: list[bytes] = field(default_factory=list)
    hidden_ids: set[str] = field(default_factory=set)
    private_names: dict[str, str] = field(default_factory=dict)  # model name -> the role that owns it
    error_marker: str = "site-secret-traceback-line-9431"
    private_record_marker: str = "private-host-7f3a9c"
    tokens: dict[str, str] = field(default_factory=dict)

    def pk(self, name: str) -> int:
        return self.submissions[name].pk


def _queued(version: BenchmarkVersion, owner, name: str, content: bytes, **fields) -> Submission:
    """A queued upload with its model file in private storage, as ``submit_model`` leaves one."""
    submission = Submission.objects.create(
        owner=owner,
        version=version,
        model_name=name,
        team=owner.get_username(),
        model_path="pending",
        model_format="torchscript",
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        **fields,
    )
    relative = f"models/{submission.pk}/model.pt"
    write_file_atomically(relative, [content])
    Submission.objects.filter(pk=submission.pk).update(model_path=relative)
    submission.refresh_from_db()
    return submission


def build_world(digits_folder: Path, workdir: Path) -> World:
    users_model = get_user_model()
    # No passwords: the test clients sign in with ``force_login``, and hashing six costs seconds.
    users = {role: users_model.objects.create_user(name, f"{name}@example.org") for role, name in USERNAMES.items()}
    staff = users["staff"]
    staff.is_staff = staff.is_superuser = True
    staff.save()
    frozen = publish_benchmark(folder=digits_folder)
    frozen.benchmark.maintainers.add(users["maintainer"])
    Benchmark.objects.create(slug="other", title="Other").maintainers.add(users["other_maintainer"])
    owner, other, team = users["owner"], users["other"], users["team"]
    # Only a membership row makes a teammate: ``tess`` joins ``ada``'s team of digits.
    ada_team = Team.objects.create(benchmark=frozen.benchmark, name="ada", slug="ada", created_by=owner)
    for member in (owner, team):
        TeamMembership.objects.create(team=ada_team, user=member, benchmark=frozen.benchmark)

    made: dict[str, Submission] = {
        "owner_frozen": record_result(frozen, owner, accuracy=0.9, seed=1, name="ada frozen entry"),
        "other_frozen": record_result(frozen, other, accuracy=0.8, seed=2, name="grace frozen entry"),
    }
    refresh_leaderboard(version_id=frozen.pk)
    opened = publish_benchmark(folder=next_folder(digits_folder, workdir / "1.1.0", version="1.1.0"))
    draft = create_draft(folder=next_folder(digits_folder, workdir / "1.2.0", version="1.2.0"))
    freeze(version=frozen)
    made["owner_released"] = record_result(opened, owner, accuracy=0.9, seed=3, name="ada released entry")
    made["other_released"] = record_result(opened, other, accuracy=0.85, seed=4, name="grace released entry")
    made["team_released"] = record_result(opened, team, accuracy=0.8, seed=5, name="tess released entry")
    Submission.objects.filter(pk=made["team_released"].pk).update(team=owner.get_username())
    refresh_leaderboard(version_id=opened.pk)

    world = World(
        slug=frozen.benchmark.slug,
        open=opened.version,
        frozen=frozen.version,
        draft=draft.version,
        users=users,
        submissions=made,
    )
    for name, role, status, extra in (
        ("ada queued secret model", "owner", Submission.Status.QUEUED, {}),
        ("ada failed secret model", "owner", Submission.Status.FAILED, {"error_code": "model_raised"}),
        ("ada withdrawn secret model", "owner", Submission.Status.WITHDRAWN, {}),
        ("grace queued secret model", "other", Submission.Status.QUEUED, {}),
    ):
        content = f"model file bytes of {name}: 0x5eed{len(name)}".encode() * 8
        key = f"{role}_{status}"
        if status == Submission.Status.FAILED:
            extra = {**extra, "error_message": f"Traceback:\n  {world.error_marker}"}
        made[key] = _queued(opened, users[role], name, content, status=status, **extra)
        world.model_bytes[key] = content
        world.private_names[name] = role

    # The scored run of a released submission carries a private record only staff may read.
    EvaluationRun.objects.filter(submission=made["owner_released"]).update(
        worker=f"worker-{world.private_record_marker}",
        private_record={"host": {"name": world.private_record_marker}, "timings": {"total": 0.123456789}},
    )
    for run in EvaluationRun.objects.exclude(outcomes_path=""):
        content = private_path(run.outcomes_path).read_bytes()
        world.outcome_slices.append(content[len(content) // 2 : len(content) // 2 + 96])
    test = load_benchmark(frozen.folder).load_split("test")
    world.hidden_ids = {str(item) for item in test.item_ids}
    inked = np.argsort(-test.inputs.reshape(len(test.inputs), -1).sum(axis=1))[:4]
    world.hidden_input_slices = [np.ascontiguousarray(test.inputs[i]).tobytes()[:128] for i in inked]
    world.tokens = {role: Token.objects.get_or_create(user=user)[0].key for role, user in users.items()}
    # One row of every model the admin shows, so each of its pages is opened on a real row.
    Group.objects.create(name="reviewers")
    pin = BaselinePin.objects.create(
        benchmark=opened.benchmark,
        name="pinned baseline",
        sha256="1" * 64,
        model_path="baselines/pinned.pt",
        model_format="torchscript",
        size_bytes=1,
    )
    BaselineCheck.objects.create(
        submission=made["owner_frozen"], evaluator_version="2", recorded_evaluator_version="1", metric="accuracy"
    )
    assert pin.pk
    for submission in made.values():
        submission.refresh_from_db()
    return world


def stored_state() -> tuple[dict, dict]:
    """Every row of the site's own tables and every file of private storage, to compare before and after.

    Sessions and log-in times are left out: signing a test client in writes them. A file is
    known by its size and modification time (hashing the benchmarks' corrupted copies before and
    after every request would take most of the test's time).
    """
    from django.apps import apps

    rows = {}
    for model in apps.get_models():
        label = model._meta.label
        if label in {"sessions.Session"}:
            continue
        values = list(model._default_manager.order_by("pk").values())
        for row in values:
            row.pop("last_login", None)
        rows[label] = values
    root = private_root()
    files = {
        str(path.relative_to(root)): (stat.st_size, stat.st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file() and (stat := path.stat())
    }
    return rows, files
