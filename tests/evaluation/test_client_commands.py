"""The commands that talk to a server name it, check it is a Touchstone site and say which one it is."""

from __future__ import annotations

import contextlib
import io

import pytest

import evaluation
from evaluation.cli import main
from evaluation.errors import EvaluationError
from evaluation.public import load_for_evaluation
from evaluation.runner import evaluate_model, preflight_slice
from evaluation.spec import load_benchmark
from tests.evaluation.fake_site import ABOUT, fake_site, json_route
from tests.evaluation.test_fetching import published
from tests.models import centroid_model
from tests.security.models import build_malformed_model


def run(*arguments: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(arguments))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def no_server_variable(monkeypatch):
    monkeypatch.delenv("TOUCHSTONE_SERVER", raising=False)


@pytest.mark.parametrize(
    "command",
    [
        ["fetch", "--benchmark", "digits/1.0.0"],
        ["submit", "--token", "t", "--benchmark", "digits/1.0.0", "--model", "m.pt", "--name", "M"],
    ],
)
def test_it_refuses_to_guess_a_server(no_server_variable, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run(*command)
    assert status == 1
    assert "no server given: pass --server URL or set TOUCHSTONE_SERVER" in err
    assert list(tmp_path.iterdir()) == []


def test_it_refuses_a_server_that_is_not_an_http_address(monkeypatch, tmp_path):
    monkeypatch.setenv("TOUCHSTONE_SERVER", "127.0.0.1:8000")
    status, _, err = run("fetch", "--benchmark", "digits/1.0.0", str(tmp_path))
    assert status == 1 and "TOUCHSTONE_SERVER is '127.0.0.1:8000', not an http:// or https:// address" in err


def test_it_refuses_a_site_that_is_not_touchstone(no_server_variable, tmp_path):
    with fake_site({}) as site:
        status, _, err = run("fetch", "--server", site.url, "--benchmark", "digits/1.0.0", str(tmp_path))
    assert status == 1
    assert f"{site.url} does not answer as a Touchstone site" in err and "HTTP 404" in err
    assert site.seen == [("GET", "/api/v1/about/")]
    assert list(tmp_path.iterdir()) == []


def test_it_says_which_server_and_which_touchstone_it_talks_to(monkeypatch, digits_folder, tmp_path):
    with fake_site(published(digits_folder, "1.0.0")) as site:
        monkeypatch.setenv("TOUCHSTONE_SERVER", site.url + "/")
        status, out, err = run("fetch", "--benchmark", "digits", "--version", "1.0.0", str(tmp_path))
    assert status == 0, err
    version = evaluation.__version__
    assert f"server: {site.url} (Touchstone {version}, evaluator {evaluation.EVALUATOR_VERSION})" in err
    assert "warning" not in err
    assert out.startswith(str(tmp_path / "digits" / "1.0.0")) and "(verified)" in out


def test_it_warns_when_the_servers_evaluator_is_another(digits_folder, tmp_path):
    routes = published(digits_folder, "1.0.0")
    routes["/api/v1/about/"] = json_route({**ABOUT, "evaluator_version": "9.9.9"})
    with fake_site(routes) as site:
        status, _, err = run("fetch", "--server", site.url, "--benchmark", "digits/1.0.0", str(tmp_path))
    assert status == 0, err
    assert "the server's is 9.9.9: local scores may differ" in err


@pytest.fixture(scope="module")
def centroid_file(digits_folder, tmp_path_factory):
    dev = load_benchmark(digits_folder).load_split("dev")
    return centroid_model(dev.inputs, dev.labels, 10, tmp_path_factory.mktemp("check") / "centroid.pt")


def test_check_fetches_the_version_and_passes_a_good_model(digits_folder, centroid_file, tmp_path):
    with fake_site(published(digits_folder, "1.0.0")) as site:
        status, out, err = run(
            "check", str(centroid_file), "--benchmark", "digits/1.0.0", "--data", str(tmp_path), "--server", site.url
        )
    assert status == 0, err
    assert f"server: {site.url}" in err and (tmp_path / "digits" / "1.0.0" / "version.json").exists()
    assert "upload checks: passed (torchscript" in out
    assert "preflight: passed on the first 257 items of the public dev split of digits 1.0.0" in out


def test_check_prints_the_message_the_site_records(no_server_variable, digits_folder, tmp_path):
    model = build_malformed_model(tmp_path, "nan")
    status, _, err = run("check", str(model), "--benchmark", str(digits_folder))
    assert status == 1
    assert "no server given: checking with the site's default limits (batches of 256" in err
    # The worker's run of the same file: the preflight's failure, as the submission records it.
    benchmark = load_benchmark(digits_folder)
    with pytest.raises(EvaluationError) as recorded:
        evaluate_model(
            model,
            load_for_evaluation(digits_folder, "test"),
            preflight_inputs=preflight_slice(benchmark.load_split("dev").inputs, 256),
            secret_inputs=True,
        )
    assert recorded.value.code == "malformed_output"
    assert f"error (malformed_output): {recorded.value}" in err


def test_check_uses_the_only_fetched_version_without_a_server(no_server_variable, digits_folder, tmp_path):
    with fake_site(published(digits_folder, "1.0.0")) as site:
        assert run("fetch", "--server", site.url, "--benchmark", "digits/1.0.0", str(tmp_path))[0] == 0
    notes = tmp_path / "notes.pt"
    notes.write_text("not a model")
    status, _, err = run("check", str(notes), "--benchmark", "digits", "--data", str(tmp_path))
    # The folder was found: the upload checks ran on the file and refused it as the site would.
    assert status == 1
    assert "error (invalid_model_file)" in err


def test_check_names_what_is_missing_without_a_server(no_server_variable, centroid_file, tmp_path):
    status, _, err = run("check", str(centroid_file), "--benchmark", "digits/2.0.0", "--data", str(tmp_path))
    assert status == 1
    assert "nothing is fetched under" in err and "give --server (or set TOUCHSTONE_SERVER) to fetch it" in err


def test_check_falls_back_to_the_fetched_copy_when_the_server_cannot_be_reached(digits_folder, tmp_path):
    with fake_site(published(digits_folder, "1.0.0")) as site:
        assert run("fetch", "--server", site.url, "--benchmark", "digits/1.0.0", str(tmp_path))[0] == 0
    notes = tmp_path / "notes.pt"
    notes.write_text("not a model")
    # The fake site has stopped: its port now refuses connections.
    status, _, err = run(
        "check", str(notes), "--benchmark", "digits/1.0.0", "--data", str(tmp_path), "--server", site.url
    )
    assert status == 1
    assert "warning:" in err and "Connection refused" in err
    assert f"checking {tmp_path / 'digits' / '1.0.0'} with the site's default limits" in err
    assert "error (invalid_model_file)" in err


def test_fetch_without_a_version_takes_the_latest_the_site_names(digits_folder, tmp_path):
    routes = published(digits_folder, "1.1.0")
    routes["/api/v1/benchmarks/digits/"] = json_route({"slug": "digits", "latest_version": "1.1.0"})
    with fake_site(routes) as site:
        status, _, err = run("fetch", "--server", site.url, "--benchmark", "digits", str(tmp_path))
    assert status == 0, err
    assert (tmp_path / "digits" / "1.1.0" / "version.json").exists()


def test_two_different_versions_named_at_once_are_refused(no_server_variable, tmp_path):
    status, _, err = run("fetch", "--server", "http://127.0.0.1:9", "--benchmark", "digits/1.0.0", "--version", "2.0.0")
    assert status == 1
    assert "--benchmark names version 1.0.0 and --version 2.0.0; give one" in err


def test_submit_says_the_quota_left_and_sends_nothing_once_it_is_used_up(no_server_variable, centroid_file):
    summary = "0 of 5 submissions left in the last 24 hours; the model file may be at most 100 MiB."
    routes = {
        "/api/v1/about/": json_route(ABOUT),
        "/api/v1/quota/": json_route({"left": 0, "limit": 5, "summary": summary}),
    }
    with fake_site(routes) as site:
        arguments = ["--server", site.url, "--token", "t", "--benchmark", "digits/1.0.0"]
        status, _, err = run("submit", *arguments, "--model", str(centroid_file), "--name", "M")
    assert status == 1
    assert f"quota: {summary}" in err and "nothing was uploaded" in err
    assert ("POST", "/api/v1/submissions/") not in site.seen
