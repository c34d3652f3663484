"""Checking the child's replies by type and range (``evaluation/sandbox/replies.py``)."""

from __future__ import annotations

import pytest

from evaluation.sandbox.channel import ProtocolViolation
from evaluation.sandbox.replies import (
    Done,
    ErrorReply,
    GradientsDone,
    Malformed,
    NoGradient,
    Ready,
    parse_gradient_reply,
    parse_loading_reply,
    parse_predict_reply,
)


def test_it_keeps_a_well_formed_ready_reply():
    ready = parse_loading_reply({"op": "ready", "parameter_count": 1234, "max_rss_bytes": 10 * 2**20})

    assert ready == Ready(parameter_count=1234, max_rss_bytes=10 * 2**20)


@pytest.mark.parametrize(
    "count",
    [-1, 10**13, 1.5, True, "12", [1], float("nan")],
)
def test_it_refuses_a_parameter_count_that_is_not_a_plausible_integer(count):
    with pytest.raises(ProtocolViolation):
        parse_loading_reply({"op": "ready", "parameter_count": count})


def test_it_refuses_an_environment_error_once_the_model_is_open():
    # Only the child's own code, before it opens the model, may report the environment.
    with pytest.raises(ProtocolViolation):
        parse_loading_reply({"op": "error", "kind": "environment", "traceback": ["ImportError"]})


def test_it_refuses_an_operation_the_phase_does_not_expect():
    with pytest.raises(ProtocolViolation):
        parse_loading_reply({"op": "done", "batch_seconds": []})
    with pytest.raises(ProtocolViolation):
        parse_predict_reply({"op": "ready"}, batches=1, wall_seconds=1.0)


def test_it_keeps_the_last_ten_traceback_lines_each_cut_to_500_characters():
    lines = [f"line {index}" for index in range(30)] + ["x" * 2000]
    reply = parse_predict_reply({"op": "error", "kind": "raised", "traceback": lines}, batches=1, wall_seconds=1.0)

    assert isinstance(reply, ErrorReply)
    assert reply.lines[0] == "line 21" and len(reply.lines) == 10
    assert len(reply.lines[-1]) == 500


def test_it_wants_exactly_one_duration_per_batch():
    good = parse_predict_reply({"op": "done", "batch_seconds": [0.1, 0.2]}, batches=2, wall_seconds=1.0)
    assert good == Done(batch_seconds=(0.1, 0.2), max_rss_bytes=None)

    for seconds in ([0.1], [0.1, 0.1, 0.1], "0.1"):
        with pytest.raises(ProtocolViolation):
            parse_predict_reply({"op": "done", "batch_seconds": seconds}, batches=2, wall_seconds=1.0)


@pytest.mark.parametrize(
    "seconds",
    [[-0.1, 0.1], [2.0, 0.1], [float("inf"), 0.1], [0.6, 0.6], [None, 0.1], [False, 0.1]],
)
def test_it_refuses_durations_the_parents_clock_rules_out(seconds):
    with pytest.raises(ProtocolViolation):
        parse_predict_reply({"op": "done", "batch_seconds": seconds}, batches=2, wall_seconds=1.0)


def test_a_malformed_reply_names_a_batch_that_exists_and_a_known_problem():
    reply = parse_predict_reply(
        {"op": "malformed", "problem": "shape", "batch_index": 3, "returned": "a tensor"}, batches=4, wall_seconds=1.0
    )
    assert reply == Malformed(problem="shape", batch_index=3, returned="a tensor")

    with pytest.raises(ProtocolViolation):
        parse_predict_reply({"op": "malformed", "problem": "shape", "batch_index": 4}, batches=4, wall_seconds=1.0)
    with pytest.raises(ProtocolViolation):
        parse_predict_reply({"op": "malformed", "problem": "anything", "batch_index": 0}, batches=4, wall_seconds=1.0)


# The gradient operations ----------------------------------------------------------------------


def test_it_keeps_a_well_formed_attack_reply_and_its_zero_gradients_flag():
    reply = parse_gradient_reply(
        {"op": "attacked", "zero_gradients": True, "max_rss_bytes": 2**20}, operation="attack", batches=2
    )

    assert reply == GradientsDone(zero_gradients=True, max_rss_bytes=2**20)


@pytest.mark.parametrize("flag", [1, 0, "true", None, [True], 0.0])
def test_it_refuses_an_attack_reply_whose_flag_is_not_a_boolean(flag):
    with pytest.raises(ProtocolViolation):
        parse_gradient_reply({"op": "attacked", "zero_gradients": flag}, operation="attack", batches=1)


def test_it_refuses_an_attack_reply_without_the_flag():
    with pytest.raises(ProtocolViolation):
        parse_gradient_reply({"op": "attacked"}, operation="attack", batches=1)


def test_it_refuses_a_reply_meant_for_another_operation():
    for reply, operation in [
        ({"op": "explained"}, "attack"),
        ({"op": "attacked", "zero_gradients": False}, "saliency"),
        ({"op": "done", "batch_seconds": [0.1]}, "attack"),
        ({"op": "error", "kind": "raised", "traceback": []}, "saliency"),
    ]:
        with pytest.raises(ProtocolViolation):
            parse_gradient_reply(reply, operation=operation, batches=1)


def test_it_keeps_a_no_gradient_reply_with_a_known_reason():
    nonfinite = parse_gradient_reply({"op": "no_gradient", "reason": "nonfinite"}, operation="attack", batches=1)
    raised = parse_gradient_reply(
        {"op": "no_gradient", "reason": "raised", "exception": "torch.jit.Error", "traceback": ["a", "b"]},
        operation="saliency",
        batches=1,
    )

    assert nonfinite == NoGradient(reason="nonfinite", exception="", lines=())
    assert raised == NoGradient(reason="raised", exception="torch.jit.Error", lines=("a", "b"))


@pytest.mark.parametrize(
    "fields",
    [
        {"reason": "tired"},
        {"reason": 1},
        {"reason": "raised"},
        {"reason": "raised", "exception": ""},
        {"reason": "raised", "exception": "Leak 0.734"},
        {"reason": "raised", "exception": "9Error"},
        {"reason": "raised", "exception": ["RuntimeError"]},
        {"reason": "raised", "exception": "RuntimeError", "traceback": "not a list"},
    ],
)
def test_it_refuses_a_no_gradient_reply_that_is_not_as_the_protocol_says(fields):
    with pytest.raises(ProtocolViolation):
        parse_gradient_reply({"op": "no_gradient", **fields}, operation="attack", batches=1)


def test_it_refuses_a_malformed_gradient_reply_pointing_past_the_last_batch():
    reply = {"op": "malformed", "problem": "shape", "batch_index": 3, "returned": "a tensor"}

    assert isinstance(parse_gradient_reply({**reply, "batch_index": 2}, operation="attack", batches=3), Malformed)
    with pytest.raises(ProtocolViolation):
        parse_gradient_reply(reply, operation="attack", batches=3)
