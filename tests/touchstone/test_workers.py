"""The worker's command line, read by Celery's own parser of ``celery worker`` (nothing is started)."""

from __future__ import annotations

import click
import pytest
from celery.bin.base import CLIContext
from celery.bin.worker import worker as celery_worker

from tests.services import worker_command as services_worker_command
from touchstone.celery import app
from touchstone.workers import worker_command


def options(command: list[str]) -> dict:
    """What ``celery worker`` makes of the arguments that follow ``-A touchstone worker``."""
    assert command[1:6] == ["-m", "celery", "-A", "touchstone", "worker"]
    context = celery_worker.make_context(
        "worker", command[6:], obj=CLIContext(app=app, no_color=True, workdir=None, quiet=True)
    )
    return context.params


def test_the_worker_of_make_run_runs_beat_in_one_process_on_both_queues():
    read = options(worker_command(beat=True))
    assert read["beat"] is True
    assert read["queues"] == ["evaluation", "default"]
    assert read["concurrency"] == 1
    assert (read["without_gossip"], read["without_mingle"], read["without_heartbeat"]) == (False, False, False)


def test_the_tests_worker_has_its_node_name_and_no_beat_gossip_mingle_or_heartbeats():
    read = options(services_worker_command(hostname="w1@%h"))
    assert read["hostname"].startswith("w1@")
    assert not read["beat"]
    assert read["queues"] == ["evaluation", "default"]
    assert (read["without_gossip"], read["without_mingle"], read["without_heartbeat"]) == (True, True, True)


def test_a_worker_of_several_processes_asks_celery_for_that_many():
    assert options(worker_command(concurrency=3))["concurrency"] == 3


def test_celery_refuses_a_flag_it_does_not_know_so_the_checks_above_can_fail():
    with pytest.raises(click.UsageError):
        options([*worker_command()[:6], "--without-anything"])
