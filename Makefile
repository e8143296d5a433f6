# Two entry points on a fresh Debian machine: `make demo` and `make test`.
# Each installs what it needs: a .venv with the package, and the Debian packages of the
# real Prometheus, Alertmanager, VictoriaMetrics and PostgreSQL that tests and the demo run locally.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# postgresql: the store's tests run the server from /usr/lib/postgresql/<major>/bin (not on PATH;
# pg_ctlcluster, from postgresql-common, stands for it in the check).
DEB_PACKAGES := prometheus victoria-metrics prometheus-alertmanager postgresql
DEB_BINARIES := prometheus promtool victoria-metrics prometheus-alertmanager amtool pg_ctlcluster
LINT_PATHS := $(wildcard alerter tests benchmarks)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test test-fast test-sweep demo lint typecheck check-rules unit venv debs clean

test: venv debs lint typecheck check-rules unit

# The inner loop: everything but the tests marked slow (the demo, process kills); about a minute.
test-fast: venv debs lint typecheck
	$(BIN)/pytest -q -m "not slow"

# The tests that read the simulated session history, at SWEEP_ENDS history ends 29 h apart
# (every one at another hour and weekday; see tests/harness/history.py). A few minutes per end.
SWEEP_ENDS ?= 14
# Every end runs even when one fails; the target fails at the end and lists the ends that failed.
test-sweep: venv debs
	@failed=""; for end in $$($(BIN)/python -c "import sys; sys.path.insert(0, 'tests'); \
		from harness.history import sweep_ends; print(*(int(e) for e in sweep_ends($(SWEEP_ENDS))))"); do \
		when=$$(date -u -d @$$end '+%a %Y-%m-%dT%H:%MZ'); echo "== history ending $$when"; \
		$(BIN)/pytest -q -m history --history-end=$$end || failed="$$failed\n  $$when (--history-end=$$end)"; \
	done; \
	if [ -n "$$failed" ]; then printf "history ends that failed:$$failed\n"; exit 1; fi; \
	echo "all $(SWEEP_ENDS) history ends passed"

# The whole loop on this machine (see docs/demo.md); DEMO_ARGS=--keep-running stays up until Ctrl-C.
DEMO_ARGS ?=
demo: venv debs
	$(BIN)/alerter check deploy/demo/rules.yaml
	$(BIN)/python -m alerter.demo $(DEMO_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Installs the servers without starting their system services: tests and the demo start
# their own instances on 127.0.0.1 with throw-away data directories.
debs:
	@missing=""; for b in $(DEB_BINARIES); do command -v $$b >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
		echo "installing $(DEB_PACKAGES) with apt-get"; \
		added=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null; \
			$(SUDO) chmod +x /usr/sbin/policy-rc.d; added=1; fi; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES); \
		rc=$$?; [ -z "$$added" ] || $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi

# Style, then architecture: the import contracts in pyproject.toml ([tool.importlinter]) keep the
# layers of docs/architecture.md; deptry checks that what the code imports is what pyproject declares.
lint: venv
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/lint-imports
	$(BIN)/deptry alerter benchmarks

typecheck: venv
	$(BIN)/mypy

check-rules: venv debs
	$(BIN)/alerter check --config deploy/alerter.yaml rules/ rules/unified/
	$(BIN)/alerter test rules/tests/*.yaml

# pytest exits 5 when it collected no test, which fails this target.
unit: venv debs
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
