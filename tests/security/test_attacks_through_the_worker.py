"""Every attack submitted the way a stranger would: through the API to a real Celery worker.

The site runs in its embedded mode in a temporary folder, so the canaries are the real thing:
the published hidden split in private storage, the site's SQLite database and its settings
module. After each attack the same worker scores a normal model, and every normal run must
produce exactly the predictions of the first one, made before any attack.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from evaluation.client import ClientError, TouchstoneClient
from evaluation.preflight import preflight_batches
from evaluation.spec import load_benchmark
from tests.security import archives, exfiltration, models
from tests.security.support import require_bubblewrap
from tests.services import ROOT, running_site

pytestmark = pytest.mark.services

LIMITS = {
    "TOUCHSTONE_SANDBOX_MEMORY_MB": "1536",
    # TorchScript has no sleep: a stalling model burns CPU too, so the wall-clock deadline is
    # set below the CPU limit for both time attacks to meet it (the CPU limit is tested directly
    # on the sandbox in test_model_attacks.py).
    "TOUCHSTONE_SANDBOX_CPU_SECONDS": "30",
    "TOUCHSTONE_SANDBOX_WALL_SECONDS": "12",
    "TOUCHSTONE_SANDBOX_FILE_MB": "64",
    "TOUCHSTONE_MAX_UPLOAD_MB": "2",
    "TOUCHSTONE_SUBMISSIONS_PER_DAY": "1000",
}


@dataclass(frozen=True)
class Attack:
    name: str
    build: object  # (folder, site paths) -> model file
    code: str
    words: tuple[str, ...]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def site(service_folder, digits_folder):
    require_bubblewrap()
    with running_site(service_folder / "attacked", benchmarks=[digits_folder], extra_env=LIMITS) as running:
        private = running.folder / "data" / "private"
        running.hidden_split = next(private.glob("benchmarks/digits/*/test.npz"))
        running.database = running.folder / "data" / "touchstone.sqlite3"
        running.settings_module = ROOT / "touchstone" / "settings.py"
        running.write_target = private / "written-by-model"
        yield running


def model_attacks(site) -> list[Attack]:
    return [
        Attack(
            "reads the hidden test split",
            lambda f: models.build_reading_model(f, site.hidden_split),
            "model_raised",
            ("test.npz", "No such file or directory"),
        ),
        Attack(
            "reads the database",
            lambda f: models.build_reading_model(f, site.database),
            "model_raised",
            ("touchstone.sqlite3", "No such file or directory"),
        ),
        Attack(
            "reads the settings module",
            lambda f: models.build_reading_model(f, site.settings_module),
            "model_raised",
            ("settings.py", "No such file or directory"),
        ),
        Attack(
            "reads /etc/passwd",
            lambda f: models.build_reading_model(f, "/etc/passwd"),
            "model_raised",
            ("/etc/passwd", "No such file or directory"),
        ),
        Attack(
            "overwrites the hidden test split",
            lambda f: models.build_writing_model(f, site.hidden_split),
            "model_raised",
            ("test.npz", "No such file or directory"),
        ),
        Attack(
            "creates a file in private storage",
            lambda f: models.build_writing_model(f, site.write_target),
            "model_raised",
            ("written-by-model", "No such file or directory"),
        ),
        Attack("allocates 8 GiB", lambda f: models.build_memory_hog_model(f), "out_of_memory", ("1536 MiB",)),
        Attack("loops forever", lambda f: models.build_endless_loop_model(f), "deadline_exceeded", ("12 seconds",)),
        Attack(
            "stalls past the deadline", lambda f: models.build_sleeping_model(f), "deadline_exceeded", ("12 seconds",)
        ),
        Attack("writes a huge file", lambda f: models.build_huge_file_model(f), "sandbox_violation", ("64 MiB",)),
        Attack("raises", lambda f: models.build_raising_model(f), "model_raised", (models.RAISED_MESSAGE,)),
        Attack(
            "hides a pickle in a TorchScript archive",
            lambda f: archives.build_pickle_in_torchscript_layout(f, site.write_target),
            "model_load_failed",
            ("could not be loaded",),
        ),
        *[
            Attack(
                f"returns {kind} logits",
                lambda f, kind=kind: models.build_malformed_model(f, kind),
                "malformed_output",
                words,
            )
            for kind, words in (
                ("wrong_shape", ("expected float32 logits of shape",)),
                ("float64", ("float64",)),
                ("int64", ("int64",)),
                ("nan", ("NaN",)),
                ("inf", ("Inf",)),
                ("gigantic", ("1073741824",)),
            )
        ],
    ]


def upload_attacks(site) -> list[tuple[str, object, int, str]]:
    return [
        ("a pickle disguised as a model", lambda f: archives.build_pickle_payload(f, site.write_target), 400, "pickle"),
        ("a zip bomb", lambda f: archives.build_zip_bomb(f), 400, "would expand"),
        ("a member named ../", lambda f: archives.build_traversal_archive(f), 400, ".."),
        ("a symlink member", lambda f: archives.build_symlink_archive(f), 400, "link"),
        ("an oversized upload", lambda f: models.build_oversized_model(f, size_bytes=3 * models.MIB), 413, "2 MiB"),
        (
            "a pickle-carrying .pt2",
            lambda f: archives.build_export_with_pickled_sample_inputs(f, site.write_target),
            400,
            "builtins.eval",
        ),
    ]


def test_every_attack_fails_with_its_reason_and_the_worker_then_scores_a_normal_model(site, tmp_path, model_files):
    before = {path: sha256(path) for path in (site.hidden_split, site.database, site.settings_module)}
    published = load_benchmark(site.hidden_split.parent).file_hashes["test.npz"]
    assert before[site.hidden_split] == published
    client = TouchstoneClient(site.url, site.create_researcher("mallory"))
    normal = model_files["strong"]

    def submit(path: Path, name: str) -> int:
        return client.submit(benchmark="digits", version="1.0.0", model_file=path, model_name=name)["id"]

    # Queue everything at once: one worker takes them in order, a normal model after each attack.
    reference = submit(normal, "normal before the attacks")
    queued = []
    for index, attack in enumerate(model_attacks(site)):
        folder = tmp_path / f"attack-{index}"
        queued.append((attack, submit(attack.build(folder), attack.name), submit(normal, f"normal after {index}")))

    baseline = client.wait(reference, poll_seconds=0.3, timeout=300)
    assert baseline["status"] == "scored", (baseline["status"], baseline["error"])
    expected_predictions = client._request("GET", f"submissions/{reference}/provenance/")["predictions_hmac_sha256"]
    outcomes = {}
    for attack, attack_id, normal_id in queued:
        final = client.wait(attack_id, poll_seconds=0.3, timeout=300)
        outcomes[attack.name] = (final["status"], (final["error"] or {}).get("code"))
        assert final["status"] == "failed", (attack.name, final)
        assert final["error"]["code"] == attack.code, (attack.name, final["error"])
        for word in attack.words:
            assert word in final["error"]["message"], (attack.name, word, final["error"]["message"])
        after = client.wait(normal_id, poll_seconds=0.3, timeout=300)
        assert after["status"] == "scored", (attack.name, after["status"], after["error"])
        predictions = client._request("GET", f"submissions/{normal_id}/provenance/")["predictions_hmac_sha256"]
        assert predictions == expected_predictions, attack.name

    # No canary was written, and the database is intact.
    assert {path: sha256(path) for path in (site.hidden_split, site.settings_module)} == {
        site.hidden_split: before[site.hidden_split],
        site.settings_module: before[site.settings_module],
    }
    assert not site.write_target.exists()
    with sqlite3.connect(site.database) as connection:
        assert connection.execute("pragma integrity_check").fetchone()[0] == "ok"
    print("\n".join(f"{name}: {status} ({code})" for name, (status, code) in outcomes.items()))


def stored_files(site) -> set[Path]:
    folder = site.folder / "data" / "private" / "submissions"
    return {path for path in folder.rglob("*") if path.is_file()} if folder.exists() else set()


@pytest.mark.parametrize("index", range(6))
def test_a_malicious_upload_is_refused_before_anything_is_stored(site, tmp_path, index):
    name, build, status, words = upload_attacks(site)[index]
    username = f"eve{index}"
    client = TouchstoneClient(site.url, site.create_researcher(username))
    before = stored_files(site)
    with pytest.raises(ClientError) as refused:
        client.submit(benchmark="digits", version="1.0.0", model_file=build(tmp_path), model_name=name)
    assert f"HTTP {status}" in str(refused.value), name
    assert words in str(refused.value), (name, str(refused.value))
    assert stored_files(site) == before, name
    with sqlite3.connect(site.database) as connection:
        rows = connection.execute(
            "select count(*) from submissions_submission s join auth_user u on u.id = s.owner_id where u.username = ?",
            [username],
        ).fetchone()[0]
    assert rows == 0, name
    assert not site.write_target.exists()


@pytest.mark.parametrize("channel", ["error", "shape"])
def test_a_model_that_writes_hidden_inputs_into_its_failure_gets_none_of_them_back(site, tmp_path, channel):
    # The preflight runs probe batches of 1 and 3 dev items, then 257 in batches of 256 and 1:
    # the model behaves on those batches and leaks from the first hidden batch on.
    client = TouchstoneClient(site.url, site.create_researcher(f"leaker-{channel}"))
    model = exfiltration.build_leaking_model(tmp_path, channel, honest_calls=preflight_batches(257, 256))
    submission = client.submit(benchmark="digits", version="1.0.0", model_file=model, model_name=f"leaks {channel}")[
        "id"
    ]

    final = client.wait(submission, poll_seconds=0.3, timeout=300)

    assert final["status"] == "failed", final
    assert final["error"]["code"] == {"error": "model_raised", "shape": "malformed_output"}[channel]
    hidden = np.load(site.hidden_split)["inputs"]
    first_batch = exfiltration.leaked_digits(hidden[:1])
    shown = [json.dumps(final), json.dumps(client._request("GET", f"submissions/{submission}/"))]
    with sqlite3.connect(site.database) as connection:
        shown += [
            str(value)
            for value in connection.execute(
                "select error_code, error_message, progress_message from submissions_submission where id = ?",
                [submission],
            ).fetchone()
        ]
    text = "\n".join(shown)
    assert "hidden inputs:" not in text
    assert " ".join(first_batch[:4]) not in text
    assert f", {int(first_batch[0]) + 1000}]" not in text
    # It counts against the quota: the failure is the model's.
    with sqlite3.connect(site.database) as connection:
        assert (
            connection.execute(
                "select counts_against_quota from submissions_submission where id = ?", [submission]
            ).fetchone()[0]
            == 1
        )
