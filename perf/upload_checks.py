"""Cost of refusing a zip with 1.1 million members, against checking an ordinary model.

Builds, in a temporary folder that is deleted afterwards, a ~100 MB zip of 1,100,000 empty
members (the member-count attack on the upload checks) and a normal TorchScript model and
torch.export archive, then runs ``inspect_model_file`` on each as the upload path does and
prints the CPU seconds and the peak of memory allocated by Python (tracemalloc) of each. The
many-member zip must be refused from its end-of-central-directory record alone: target well
under 0.1 s and a few MB. The last line is ``ratio X.XX``: CPU time of refusing the
many-member zip over CPU time of accepting the ordinary TorchScript model.

    python perf/upload_checks.py [--members 1100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.archive import inspect_model_file
from evaluation.errors import ModelFileError
from tests.security.archives import build_many_member_zip
from tests.security.models import build_normal_model

UPLOAD_CAP = 200 * 1024**2


def measure(path: Path) -> tuple[float, float, str]:
    """CPU seconds, peak traced MiB and outcome of one upload check of ``path``."""
    tracemalloc.start()
    began = time.process_time()
    try:
        info = inspect_model_file(path, max_bytes=UPLOAD_CAP)
        outcome = f"accepted as {info.format}"
    except ModelFileError as error:
        outcome = f"refused: {error}"
    seconds = time.process_time() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 1024**2, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_100_000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="upload-checks-") as folder:
        root = Path(folder)
        many = build_many_member_zip(root / "many", members=arguments.members)
        torchscript = build_normal_model(root / "torchscript")
        exported = build_normal_model(root / "export", model_format="torch.export")
        results = {}
        for label, path in (
            ("ordinary TorchScript model", torchscript),
            ("ordinary torch.export archive", exported),
            (f"zip of {arguments.members:,} members", many),
        ):
            seconds, peak, outcome = measure(path)
            results[label] = seconds
            size = path.stat().st_size / 1024**2
            print(f"{label} ({size:.2f} MB): {seconds:.4f} s CPU, peak {peak:.2f} MiB, {outcome[:90]}")
    ratio = results[f"zip of {arguments.members:,} members"] / results["ordinary TorchScript model"]
    print(f"ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
