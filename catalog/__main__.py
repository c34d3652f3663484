"""``python -m catalog build OUTDIR [--only SLUG] [--secret-file PATH]``,
``python -m catalog baselines FOLDER OUTDIR`` and ``python -m catalog calibrate SLUG``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluation.errors import SpecError


def main(argv: list[str] | None = None) -> int:
    """Run the catalog command line; returns the process exit status."""
    from catalog import SECRET_BUILDERS, SLUGS
    from catalog.secret import SiteSecretError, read_secret

    parser = argparse.ArgumentParser(prog="python -m catalog", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the shipped benchmark folders")
    build.add_argument("out_dir", type=Path, help="each benchmark goes to OUT_DIR/<slug>/")
    build.add_argument("--only", choices=list(SLUGS), help="build just this benchmark")
    build.add_argument(
        "--secret-file", type=Path, metavar="PATH",
        help=f"the site's benchmark secret, which {', '.join(SECRET_BUILDERS)} is generated from "
        "(var/private/benchmark-secret on a local site); without it only the public-data benchmarks are built",
    )  # fmt: skip
    baselines = commands.add_parser("baselines", help="train the baseline models of a benchmark")
    baselines.add_argument("folder", type=Path, help="a benchmark version folder")
    baselines.add_argument("out_dir", type=Path, help="where the TorchScript files are written")
    calibrate = commands.add_parser(
        "calibrate", help="print the non-linear baseline's dev accuracy under each corruption and severity"
    )
    calibrate.add_argument("slug", choices=list(SLUGS), help="the benchmark to build and calibrate")
    calibrate.add_argument(
        "--strength", action="append", default=[], metavar="NAME=VALUE",
        help="try another strength for one corruption (repeatable)",
    )  # fmt: skip
    arguments = parser.parse_args(argv)

    try:
        if arguments.command == "build":
            from catalog import build_catalog

            secret = None if arguments.secret_file is None else read_secret(arguments.secret_file)
            for folder in build_catalog(arguments.out_dir, only=arguments.only, secret=secret):
                print(f"{folder.spec.slug}\t{folder.content_hash}\t{folder.path}")
            if secret is None and arguments.only is None:
                skipped = ", ".join(SECRET_BUILDERS)
                print(f"skipped {skipped}: generated from a site's secret; pass --secret-file PATH", file=sys.stderr)
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
                print(f"{baseline.name}\t{baseline.path}\tvalidation accuracy {accuracy:.4f}")
    except (SpecError, SiteSecretError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
