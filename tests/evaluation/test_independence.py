from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_evaluation_imports_without_django_in_a_fresh_interpreter():
    code = (
        "import sys, evaluation, evaluation.cli, evaluation.runner, evaluation.spec, evaluation.metrics, "
        "evaluation.statistics, evaluation.sandbox, evaluation.archive, evaluation.provenance, evaluation.client; "
        "leaked = sorted(m for m in sys.modules if m == 'django' or m.startswith(('django.', 'touchstone'))); "
        "print(leaked); sys.exit(1 if leaked else 0)"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr
