"""Touchstone evaluation library: specs, sandbox, metrics and statistics, without Django."""

EVALUATOR_VERSION = "0.1.0"
