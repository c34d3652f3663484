"""``python -m catalog build OUTDIR [--only SLUG]`` and ``python -m catalog baselines FOLDER OUTDIR``."""

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
    arguments = parser.parse_args(argv)

    try:
        if arguments.command == "build":
            from catalog import build_catalog

            for folder in build_catalog(arguments.out_dir, only=arguments.only):
                print(f"{folder.spec.slug}\t{folder.content_hash}\t{folder.path}")
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
