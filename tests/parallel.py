"""Running the suite in parallel with pytest-xdist (``make test`` uses two worker processes).

Each worker process gets its own data folder. The site's settings put the embedded broker's
message folder, the upload temporary folder, the storage cache, media and the signing key under
``TOUCHSTONE_DATA_DIR``; two workers sharing one folder would see each other's broker messages
(their test databases number submissions the same way). The variable must be set before
pytest-django loads the settings, which is earlier than any conftest runs: pytest.ini loads this
module with ``-p``. A run without workers (``-n 0`` or ``-p no:xdist``) keeps the usual folder.

Work is handed out a file at a time, so a module's fixtures (a running site, a browser) start
once, and the files that start services run first, so that the longest tests do not end the run
alone on one worker while the other waits. Tests marked ``xdist_group`` go, with every other
test of their group, to one worker in a row: the tests whose timings matter there do not run
beside each other.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
DATA_FOLDER = tempfile.mkdtemp(prefix=f"touchstone-tests-{WORKER}-") if WORKER else ""
if DATA_FOLDER:
    os.environ["TOUCHSTONE_DATA_DIR"] = DATA_FOLDER

# Tests with these markers start processes or a browser and take seconds to minutes each.
SLOW_MARKERS = ("services", "browser")


def pytest_unconfigure(config: pytest.Config) -> None:
    if DATA_FOLDER:
        shutil.rmtree(DATA_FOLDER, ignore_errors=True)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a worker, put the tests of the files that have a slow test first, the order otherwise
    unchanged (every worker collects the same list; the controller hands its files out in this order)."""
    if not WORKER:
        return
    slow_files = {item.path for item in items if any(item.get_closest_marker(name) for name in SLOW_MARKERS)}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With ``--dist loadgroup``: one unit of work per file, or per ``xdist_group`` across files."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndGroups(LoadScopeScheduling):
        def __init__(self, config: pytest.Config, log=None) -> None:
            super().__init__(config, log)
            # Keep the order the workers collected (slow files first) instead of largest first.
            config.option.loadscopereorder = False

        def _split_scope(self, nodeid: str) -> str:
            # xdist appends "@group" to the ids of tests marked xdist_group.
            if nodeid.rfind("@") > nodeid.rfind("]"):
                return "group " + nodeid.rsplit("@", 1)[1]
            return nodeid.split("::", 1)[0]

    return FilesAndGroups(config, log)
