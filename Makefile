# One entry point. Every target builds its own virtual environment first, so on a fresh
# machine `make test` runs the tests and `make demo` runs the platform.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The demo's own folders. Set with := and names of their own, so an FP_PREFIX or DAGSTER_HOME
# exported for real work (see the README's configuration) never sends demo files there.
DEMO := .demo
DEMO_ROOT := $(abspath $(DEMO))/fp
DEMO_HOME := $(abspath $(DEMO))/dagster_home
DEMO_S3_HOME := $(abspath $(DEMO))/dagster_home_s3
S3_PORT ?= 9000
HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: install test test-all lint typecheck demo demo-s3 demo-data demo-reset bench screenshots clean

# Beside the packages: the source archives (csvkit, agate, frictionless, from PyPI) whose data
# files the dialect corpus reads (alchemy_assets_tests/dialect_corpus.py), and the release
# archives the container corpus reads (alchemy_assets_tests/container_corpus.py).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,realdata]'
	$(BIN)/python -m alchemy_assets_tests.dialect_corpus download
	$(BIN)/python -m alchemy_assets_tests.container_corpus download
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## The tests CI runs: lint, type check, then every test not marked slow, with the real
## services they need (Chromium, a PostgreSQL cluster on loopback) set up by scripts/services.sh.
## Two worker processes (pytest-xdist), each running one test file at a time: a file's
## module fixtures (a dagster dev server, a corpus) are built once, in one worker. Much of the
## run waits on Dagster's subprocesses and sensor intervals, which the other worker fills.
test: lint typecheck
	url=$$(scripts/services.sh) && ALCHEMY_TEST_POSTGRES=$$url $(BIN)/pytest -m "not slow" -n 2 --dist loadfile --durations=30

## Everything, including the long stateful and fault-injection runs.
test-all: lint typecheck
	url=$$(scripts/services.sh) && ALCHEMY_TEST_POSTGRES=$$url $(BIN)/pytest

## The README's screenshots (docs/*.png), taken by the UI tests in a real Chromium.
screenshots: $(STAMP)
	mkdir -p docs
	url=$$(scripts/services.sh) && ALCHEMY_SCREENSHOTS=$(abspath docs) ALCHEMY_TEST_POSTGRES=$$url $(BIN)/pytest -m ui -q

## Demo data: two datasets under $(DEMO)/fp, written once (later runs keep them, edits
## included), ingested (the prod side: a raw file you changed is ingested as a re-delivery).
demo-data: $(STAMP)
	$(BIN)/python -m alchemy_assets.demo_data $(DEMO_ROOT)
	$(BIN)/alchemy ingest sp/gics_cwiq_pipe/1.0 acme/prices/2 --root $(DEMO_ROOT)
	mkdir -p $(DEMO_HOME)
	test -f $(DEMO_HOME)/dagster.yaml || cp deploy/local.yaml $(DEMO_HOME)/dagster.yaml

## Start the demo over: its Dagster instance deleted, its raw files written again (edits lost).
demo-reset: $(STAMP)
	$(BIN)/python -m alchemy_assets.demo_data --reset $(DEMO_ROOT)
	rm -rf $(DEMO_HOME)
	$(BIN)/alchemy ingest sp/gics_cwiq_pipe/1.0 acme/prices/2 --root $(DEMO_ROOT)
	@echo "demo reset: 'make demo' starts it"

## The platform: dg dev (webserver + daemon, sensors running) on the embedded SQLite instance.
## One Ctrl-C, or one SIGTERM to make's process group, stops all of it within seconds, also
## when started with SIGINT ignored (alchemy_assets/supervise.py says why that needs help).
demo: demo-data
	exec env FP_PREFIX=$(DEMO_ROOT) DAGSTER_HOME=$(DEMO_HOME) ALCHEMY_WEBSERVER_URL=http://$(HOST):$(PORT) \
		$(BIN)/python -m alchemy_assets.supervise -- \
		$(BIN)/dg dev -w workspace.yaml -h $(HOST) -p $(PORT)

## The same platform on an object store: moto's S3 API server on 127.0.0.1:$(S3_PORT) (it
## stands in for S3, MinIO or Ceph) with the demo's raw files in s3://demo/fp, ingested there,
## and dg dev on FP_PREFIX=s3://demo/fp. The bucket lives in memory: each start is a fresh demo.
demo-s3: $(STAMP)
	rm -rf $(DEMO_S3_HOME) && mkdir -p $(DEMO_S3_HOME)
	cp deploy/local.yaml $(DEMO_S3_HOME)/dagster.yaml
	exec env DAGSTER_HOME=$(DEMO_S3_HOME) ALCHEMY_WEBSERVER_URL=http://$(HOST):$(PORT) \
		$(BIN)/python -m alchemy_assets.demo_store --port $(S3_PORT) -- \
		$(BIN)/python -m alchemy_assets.supervise -- \
		$(BIN)/dg dev -w workspace.yaml -h $(HOST) -p $(PORT)

## Benchmarks P1-P8 against their baselines; writes benchmarks/RESULTS.md (about an hour).
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all $(BENCH)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache .hypothesis
