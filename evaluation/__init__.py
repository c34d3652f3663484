"""Touchstone evaluation library: specs, sandbox, metrics and statistics, without Django."""

#: The release of Touchstone (the site and the ``touchstone`` command ship together).
__version__ = "0.1.0"

#: The version of the evaluation code: a run under another one may compute other numbers.
EVALUATOR_VERSION = "0.1.0"
