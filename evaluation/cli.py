"""``touchstone`` (or ``python -m evaluation``): check and evaluate a model locally, fetch a benchmark's public
files from a Touchstone server, or submit a model to one."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.client_commands import (
    SERVER_VARIABLE,
    TOKEN_VARIABLE,
    add_server_option,
    check_command,
    fetch_command,
    submit_command,
)
from evaluation.client_errors import ClientError
from evaluation.errors import EvaluationError, SpecError
from evaluation.summary import format_breakdowns

if TYPE_CHECKING:
    import numpy as np

    from evaluation.public import EvaluationData
    from evaluation.runner import EvaluationReport
    from evaluation.suite import SuitePlan


def _format_report(report: EvaluationReport) -> str:
    lines = [f"split: {report.split} ({len(report.item_ids)} items)"]
    for part, metrics in report.metrics.items():
        if len(report.metrics) > 1:
            lines.append(f"part: {part}")
        for name, interval in metrics.items():
            lines.append(f"{name:>16}: {interval.value:.4f}  95% CI [{interval.ci_low:.4f}, {interval.ci_high:.4f}]")
    sandbox = report.sandbox
    lines.append(f"sandbox layers: {', '.join(sandbox.get('layers', ())) or 'none'}")
    # Locally there is no site key, so this is the plain sha256 of the float32 probabilities; the
    # site publishes a keyed hash instead, which this one will not match.
    lines.append(f"predictions sha256 (plain, unkeyed): {report.provenance['predictions_sha256']}")
    return "\n".join(lines)


def _suite_plan(folder: Path, dataset: EvaluationData) -> SuitePlan | None:
    """The version's suite on the evaluated split, from corrupted copies stored under ``folder/perturbed``."""
    from evaluation.perturbed import PerturbedSuite, suite_root
    from evaluation.spec import load_benchmark
    from evaluation.suite import plan_suite

    spec = dataset.spec
    if not spec.perturbations:
        return None
    # The dev split's copies can be made from the public files alone; the test split's need the
    # complete folder, whose dev split the tabular corruptions read their reference from.
    source = dataset if dataset.split == "dev" else load_benchmark(folder)
    stored = PerturbedSuite.ensure(suite_root(folder), source, dataset.split)
    return plan_suite(spec, stored.conditions, stored.load, content_hash=dataset.content_hash, split=dataset.split)


def _part_masks(dataset: EvaluationData, part: str | None) -> dict[str, np.ndarray]:
    import numpy as np

    from evaluation.parts import dev_parts, hidden_parts

    spec = dataset.spec
    if part is None:
        part = "validation" if dataset.split == "dev" else "all"
    if part == "all":
        return {"all": np.ones(len(dataset.data.labels), dtype=bool)}
    clusters = dataset.data.metadata.get("cluster")
    if part in ("validation", "train"):
        if dataset.split != "dev":
            raise SpecError(f"--part {part} divides the public dev split; score the test split with --part all")
        masks = dev_parts(
            dataset.data.item_ids,
            content_hash=dataset.content_hash,
            fraction=spec.validation_fraction,
            clusters=clusters,
        )
        return {part: masks[part]}
    if dataset.split != "test":
        raise SpecError(f"--part {part} divides the hidden test split; the dev split has --part validation or train")
    return {
        part: hidden_parts(
            dataset.data.item_ids, content_hash=dataset.content_hash, fraction=spec.feedback_fraction, clusters=clusters
        )[part]
    }


def _part_notice(dataset: EvaluationData, part: str, mask: np.ndarray) -> tuple[str, str | None]:
    """What the scored part is, for the report's header, and a warning when its numbers flatter the model."""
    n_part, n_split = int(mask.sum()), len(mask)
    if part == "validation":
        return (
            f"part: validation ({n_part} of the {n_split} dev items, held out by the version: "
            f"[dev] validation_fraction = {dataset.spec.validation_fraction:g}; train on the rest)",
            None,
        )
    if dataset.split == "dev" and part in ("train", "all"):
        held = "the training part" if part == "train" else "the whole dev split, training part included"
        return (
            f"part: {part} ({n_part} of the {n_split} dev items)",
            f"warning: these numbers are on {held}, which a model is normally trained on, so they are "
            "optimistic; the validation part (the default, --part validation) estimates the hidden score",
        )
    return f"part: {part} ({n_part} items)", None


def _evaluate(arguments: argparse.Namespace) -> int:
    from evaluation.breakdowns import part_breakdowns
    from evaluation.public import load_for_evaluation
    from evaluation.robustness import ConditionPredictions
    from evaluation.runner import evaluate_model
    from evaluation.sandbox import SandboxLimits

    dataset = load_for_evaluation(arguments.benchmark, arguments.split)
    masks = _part_masks(dataset, arguments.part)
    plan = None if arguments.no_suite else _suite_plan(Path(arguments.benchmark), dataset)
    limits = SandboxLimits(memory_bytes=arguments.memory_mb * 1024 * 1024, wall_seconds=arguments.wall_seconds)

    def run(model: Path, label: str) -> EvaluationReport:
        return evaluate_model(
            model,
            dataset,
            limits=limits,
            allow_unsandboxed=arguments.allow_unsandboxed,
            parts=masks,
            suite=plan,
            progress=lambda fraction, message: print(f"[{label}{fraction:4.0%}] {message}", file=sys.stderr),
        )

    report = run(arguments.model, "")
    ((part, mask),) = masks.items()
    header, warning = _part_notice(dataset, part, mask)
    if warning is not None:
        print(warning, file=sys.stderr)
    reference = None
    if arguments.reference is not None:
        base = run(arguments.reference, "reference ")
        if base.suite is not None:
            reference = (
                arguments.reference.stem,
                ConditionPredictions(
                    clean=base.probabilities[mask].argmax(axis=1), corrupted=base.suite.corrupted[:, mask]
                ),
            )
    found = part_breakdowns(
        report.probabilities,
        dataset.data,
        dataset.spec,
        content_hash=dataset.content_hash,
        part=part,
        mask=mask,
        facts=report.facts,
        suite=report.suite,
        reference=reference,
    )
    if arguments.json:
        payload = {
            "split": report.split,
            "part": part,
            "part_items": int(mask.sum()),
            "warning": warning,
            "metrics": {name: vars(interval) for name, interval in report.metrics[part].items()},
            "breakdowns": found,
            "provenance": report.provenance,
        }
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(header)
        print(_format_report(report))
        print(format_breakdowns(found))
    return 0


def build_parser(prog: str = "touchstone") -> argparse.ArgumentParser:
    from evaluation import __version__

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fetch a benchmark's public files from a Touchstone site, check and evaluate a model on them "
        "with the site's own code, and submit it.",
        epilog=f"The server of fetch, submit and check is --server, or the environment variable {SERVER_VARIABLE}.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} (Touchstone)")
    commands = parser.add_subparsers(dest="command", required=True)

    evaluate = commands.add_parser("evaluate", help="score a model file on a benchmark folder, as the server does")
    evaluate.add_argument(
        "--benchmark", type=Path, required=True, help="a benchmark folder (complete, or the public files from fetch)"
    )
    evaluate.add_argument("--model", type=Path, required=True, help="a TorchScript or torch.export file")
    evaluate.add_argument("--split", choices=["dev", "test"], default="dev")
    evaluate.add_argument("--memory-mb", type=int, default=3072)
    evaluate.add_argument("--wall-seconds", type=float, default=600.0)
    evaluate.add_argument(
        "--allow-unsandboxed", action="store_true", help="run without bubblewrap (only for your own models)"
    )
    evaluate.add_argument(
        "--part",
        choices=["validation", "train", "all", "feedback", "final"],
        default=None,
        help="the dev split's validation part (its default: the items the baselines never trained on) or "
        "training part; with --split test on a complete folder, one part of the hidden split as the site "
        "does (all by default)",
    )
    evaluate.add_argument(
        "--no-suite", action="store_true", help="skip the corruptions, attacks and saliency (clean scores only)"
    )
    evaluate.add_argument(
        "--reference", type=Path, help="a reference model file (e.g. a baseline) for corruption errors (CE, mCE)"
    )
    evaluate.add_argument("--json", action="store_true", help="print the report and the breakdowns as JSON")
    evaluate.set_defaults(handler=_evaluate)

    fetch = commands.add_parser(
        "fetch", help="download a version's public files (spec, dev split) into DEST/SLUG/VERSION/ and verify them"
    )
    add_server_option(fetch)
    fetch.add_argument("--benchmark", required=True, help="benchmark slug, e.g. digits, or slug/version: digits/1.0.0")
    fetch.add_argument("--version", help="benchmark version, e.g. 1.0.0 (default: the latest published)")
    fetch.add_argument(
        "dest",
        nargs="?",
        type=Path,
        default=Path("."),
        help="the folder to keep versions in (default: the current folder); each version goes to DEST/SLUG/VERSION/",
    )
    fetch.set_defaults(handler=fetch_command)

    check = commands.add_parser(
        "check", help="run the site's upload checks and preflight on a model file, here, with every detail"
    )
    check.add_argument("model", type=Path, help="a TorchScript or torch.export file")
    check.add_argument(
        "--benchmark",
        required=True,
        help="SLUG or SLUG/VERSION (fetched under --data, or fetched now from the server), or a benchmark folder",
    )
    check.add_argument("--data", default=".", help="where fetch keeps versions (default: the current folder)")
    add_server_option(check, required=False)
    check.add_argument("--memory-mb", type=int, help="the sandbox's memory (default: the server's)")
    check.add_argument("--wall-seconds", type=float, default=600.0)
    check.add_argument(
        "--allow-unsandboxed", action="store_true", help="run without bubblewrap (only for your own models)"
    )
    check.set_defaults(handler=check_command)

    submit = commands.add_parser("submit", help="upload a model and follow it until it is scored")
    add_server_option(submit)
    submit.add_argument("--token", help=f"API token (or {TOKEN_VARIABLE})")
    submit.add_argument("--benchmark", required=True, help="benchmark slug, e.g. digits, or slug/version: digits/1.0.0")
    submit.add_argument("--version", help="benchmark version, e.g. 1.0.0 (default: the latest published)")
    submit.add_argument("--model", type=Path, required=True)
    submit.add_argument("--name", required=True, help="model name shown on the leaderboard")
    submit.add_argument("--description", default="")
    submit.add_argument("--paper-url", default="")
    submit.add_argument("--code-url", default="")
    submit.add_argument(
        "--give-up-after",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="while following the submission, how long the server may stay unreachable before the command stops "
        "(the submission goes on; default 600)",
    )
    submit.set_defaults(handler=submit_command)
    return parser


def main(argv: list[str] | None = None, *, prog: str = "touchstone") -> int:
    """Run one command; returns the exit status (0 on success)."""
    arguments = build_parser(prog).parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = arguments.handler
    try:
        return handler(arguments)
    except EvaluationError as error:
        print(f"error ({error.code}): {error}", file=sys.stderr)
        return 1
    except (ClientError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
