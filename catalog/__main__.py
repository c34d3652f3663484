"""``python -m catalog build OUTDIR [--only SLUG]``, ``python -m catalog baselines FOLDER OUTDIR``
and ``python -m catalog calibrate SLUG``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluation.errors import SpecError


def main(argv: list[str] | None = None) -> int:
    """Run the catalog command line; returns the process exit status."""
    from catalog import BUILDERS

    parser = argparse.ArgumentParser(prog="python -m catalog", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the shipped benchmark folders")
    build.add_argument("out_dir", type=Path, help="each benchmark goes to OUT_DIR/<slug>/")
    build.add_argument("--only", choices=list(BUILDERS), help="build just this benchmark")
    baselines = commands.add_parser("baselines", help="train the baseline models of a benchmark")
    baselines.add_argument("folder", type=Path, help="a benchmark version folder")
    baselines.add_argument("out_dir", type=Path, help="where the TorchScript files are written")
    calibrate = commands.add_parser(
        "calibrate", help="print the non-linear baseline's dev accuracy under each corruption and severity"
    )
    calibrate.add_argument("slug", choices=list(BUILDERS), help="the benchmark to build and calibrate")
    calibrate.add_argument(
        "--strength", action="append", default=[], metavar="NAME=VALUE",
        help="try another strength for one corruption (repeatable)",
    )  # fmt: skip
    arguments = parser.parse_args(argv)

    try:
        if arguments.command == "build":
            from catalog import build_catalog

            for folder in build_catalog(arguments.out_dir, only=arguments.only):
                print(f"{folder.spec.slug}\t{folder.content_hash}\t{folder.path}")
        elif arguments.command == "calibrate":
            from catalog.calibrate import calibrate as run_calibration
            from catalog.calibrate import format_table

            strengths = {}
            for item in arguments.strength:
                name, _, value = item.partition("=")
                try:
                    strengths[name] = float(value)
                except ValueError:
                    parser.error(f"--strength takes NAME=VALUE with a number, got {item!r}")
            print(format_table(*run_calibration(arguments.slug, strengths)))
        else:
            from catalog.baselines import dev_accuracy, train_baselines

            for baseline in train_baselines(arguments.folder, arguments.out_dir):
                accuracy = dev_accuracy(baseline.path, arguments.folder)
                print(f"{baseline.name}\t{baseline.path}\tdev accuracy {accuracy:.4f}")
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
