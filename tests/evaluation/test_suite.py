"""One evaluation session runs the whole suite: stored corrupted copies, attacks and saliency."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from evaluation.perturbed import PerturbedSuite, suite_root
from evaluation.public import EvaluationData
from evaluation.runner import evaluate_model
from evaluation.spec import load_benchmark
from evaluation.suite import RunFacts, SuiteRecord, plan_suite
from tests.models import centroid_model


@pytest.fixture(scope="module")
def digits_run(digits_folder, tmp_path_factory):
    """The centroid model evaluated with the suite on the digits dev split, in the real sandbox."""
    benchmark = load_benchmark(digits_folder)
    dataset = EvaluationData.from_folder(benchmark, "dev")
    root = tmp_path_factory.mktemp("suite")
    stored = PerturbedSuite.ensure(suite_root(root), benchmark, "dev")
    plan = plan_suite(benchmark.spec, stored.conditions, stored.load, content_hash=benchmark.content_hash, split="dev")
    model = centroid_model(dataset.data.inputs, dataset.data.labels, 10, root / "centroid.pt")
    messages: list[str] = []
    report = evaluate_model(
        model, dataset, progress=lambda fraction, message: messages.append(message), n_resamples=200, suite=plan
    )
    return {"report": report, "plan": plan, "messages": messages, "model": model, "dataset": dataset}


def test_progress_counts_every_condition_from_one_to_n(digits_run) -> None:
    plan = digits_run["plan"]
    counted = [re.match(r"condition (\d+) of (\d+)", message) for message in digits_run["messages"]]
    steps = [(int(found[1]), int(found[2])) for found in counted if found]
    assert [k for k, _ in steps] == list(range(1, plan.steps + 1))
    assert {n for _, n in steps} == {plan.steps}
    # Clean, every stored copy, every attack, the clean saliency and one per corruption.
    names = {condition.name for condition in plan.conditions}
    assert plan.steps == 1 + len(plan.conditions) + len(plan.attacks) + 1 + len(names)


def test_the_record_holds_the_models_classes_on_the_stored_copies(digits_run) -> None:
    record: SuiteRecord = digits_run["report"].suite
    plan = digits_run["plan"]
    module = torch.jit.load(str(digits_run["model"]))
    assert record.corrupted.shape == (len(plan.conditions), len(digits_run["dataset"].data.labels))
    for row, condition in enumerate(plan.conditions[::7]):
        with torch.no_grad():
            expected = module(torch.from_numpy(plan.load(condition))).argmax(dim=1).numpy()
        assert np.array_equal(record.corrupted[row * 7], expected), condition
    assert record.attackable and record.adversarial.shape == (len(plan.attacks), record.corrupted.shape[1])
    assert np.all(np.isfinite(record.stability)) and np.all(np.abs(record.stability) <= 1)


def test_the_record_and_the_facts_survive_an_npz_round_trip(digits_run, tmp_path) -> None:
    report = digits_run["report"]
    path = tmp_path / "outcomes.npz"
    np.savez(path, **report.suite.arrays(), **report.facts.arrays())
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    record, facts = SuiteRecord.from_arrays(arrays), RunFacts.from_arrays(arrays)
    assert record.condition_keys == report.suite.condition_keys
    assert np.array_equal(record.adversarial, report.suite.adversarial)
    assert np.array_equal(record.stability, report.suite.stability, equal_nan=True)
    assert record.attacks == report.suite.attacks
    assert facts.parameter_count == report.facts.parameter_count
    assert np.array_equal(facts.batch_seconds, report.facts.batch_seconds)
    assert SuiteRecord.from_arrays({}) is None and RunFacts.from_arrays({}) is None


def test_selecting_a_part_keeps_the_columns_of_its_items(digits_run) -> None:
    record = digits_run["report"].suite
    mask = np.zeros(record.corrupted.shape[1], dtype=bool)
    mask[::3] = True
    part = record.select(mask)
    assert np.array_equal(part.corrupted, record.corrupted[:, ::3])
    assert np.array_equal(part.stability, record.stability[:, ::3], equal_nan=True)


def test_the_clean_pass_timings_leave_out_nothing_and_the_outputs_are_logits(digits_run) -> None:
    facts = digits_run["report"].facts
    assert int(facts.batch_items.sum()) == len(digits_run["dataset"].data.labels)
    assert facts.outputs_are_probabilities is False
    assert facts.parameter_count == 0  # the centroids are a buffer, not parameters
