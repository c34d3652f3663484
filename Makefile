# Touchstone: `make run` serves the site with its shipped benchmarks; `make test` runs every test.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
RUN_PACKAGES = bubblewrap
TEST_PACKAGES = bubblewrap redis-server postgresql chromium

.PHONY: run test check install install-test system-packages-run system-packages-test sandbox-account perf wheel

install: system-packages-run sandbox-account
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt

install-test: system-packages-test sandbox-account
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt

system-packages-run:
	@$(PYTHON) scripts/system_packages.py $(RUN_PACKAGES)

system-packages-test:
	@$(PYTHON) scripts/system_packages.py $(TEST_PACKAGES)

# A root worker starts the sandbox from this unprivileged account (see SECURITY.md).
sandbox-account:
	@$(PYTHON) scripts/sandbox_account.py

run: install
	$(PYTHON) manage.py migrate --noinput
	$(PYTHON) manage.py setup_site
	$(PYTHON) scripts/run_site.py --host $(HOST) --port $(PORT)

# The whole suite on SQLite, then every test that uses Django's database again on a throwaway
# PostgreSQL cluster, the production database (tests/databases.py). Both passes run in
# TEST_WORKERS pytest-xdist processes, a file (or an xdist_group) at a time, slow files first
# (tests/parallel.py); each process has its own data folder and its own PostgreSQL cluster.
# `make test TEST_WORKERS=0` runs everything in one process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist loadgroup

test: install-test check
	TOUCHSTONE_TEST_DATABASE=sqlite $(PYTHON) -m pytest $(PYTEST_PARALLEL)
	TOUCHSTONE_TEST_DATABASE=postgres $(PYTHON) -m pytest $(PYTEST_PARALLEL)

# Formatting, lint, types (strict for evaluation/) and the import contract, all from pyproject.toml.
check:
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
	$(PYTHON) -c 'from importlinter.cli import lint_imports_command; lint_imports_command()'

# The client's wheel (the `touchstone` command and the evaluation library, nothing of the site),
# built from the clone with the installed setuptools: `pip install dist/touchstone_client-*.whl`.
wheel:
	$(PYTHON) -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation --wheel-dir dist .

perf:
	$(PYTHON) perf/bootstrap.py
	$(PYTHON) perf/sandbox_overhead.py
	$(PYTHON) perf/broker.py
	$(PYTHON) perf/upload_checks.py
	$(PYTHON) perf/full_evaluation.py
