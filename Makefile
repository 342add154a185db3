# Driftline — every target installs what it needs, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK_DIR := requirements
DRIFTLINE := $(BIN)/driftline
PYTEST_ARGS ?=

.PHONY: help venv lock stack-up stack-down stack-status test test-cluster test-unit lint demo bench bench-score bench-stream bench-serve bench-loop clean

help:
	@echo "make demo        run the whole loop on the built-in scenario"
	@echo "make test        install everything, start the local stack, run the tests, stop the stack"
	@echo "make test-cluster  only the tests on a 3-node Kafka cluster and a Redis Cluster (make test runs them too)"
	@echo "make bench       bench-score + bench-stream + bench-serve (tables, and JSON under bench/results/)"
	@echo "make bench-loop  false alarms over 10,000,000 stationary records, then the loop timed per drift scenario (about 25 minutes)"
	@echo "make stack-up | stack-down | stack-status"
	@echo "make lint        ruff + mypy"
	@echo "make lock        re-pin requirements/*.txt after a change to pyproject.toml's dependencies"

# The venv installs exactly the lock (base + ml + dev, hashed), then Driftline itself without resolving anything.
$(STAMP): $(LOCK_DIR)/dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK_DIR)/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

# After any change to pyproject.toml's dependencies: one universal lock per install (every platform, Python 3.11+),
# preferring the versions already pinned. worker.txt: the base install (the worker image); trainer.txt: + ml (the
# trainer image); dev.txt: + ml + dev (this venv). tests/unit/test_locks.py fails while they lag pyproject.toml.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" --quiet
lock: venv
	$(UV_COMPILE) -o $(LOCK_DIR)/worker.txt
	$(UV_COMPILE) --extra ml -o $(LOCK_DIR)/trainer.txt
	$(UV_COMPILE) --extra ml --extra dev -o $(LOCK_DIR)/dev.txt

stack-up: venv
	$(DRIFTLINE) stack up

stack-down: venv
	$(DRIFTLINE) stack down

stack-status: venv
	$(DRIFTLINE) stack status

# The stack is brought down even when tests fail; a stack that was already running is left alone.
test: venv lint
	@started=0; \
	if ! $(DRIFTLINE) stack status --quiet; then $(DRIFTLINE) stack up || exit 1; started=1; fi; \
	$(DRIFTLINE) topics create --quiet || { [ $$started = 1 ] && $(DRIFTLINE) stack down; exit 1; }; \
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$started = 1 ]; then $(DRIFTLINE) stack down; fi; \
	exit $$rc

# The cluster tests alone (make test runs them too): a 3-node KRaft cluster of their own, on ports 29092-29114,
# and a Redis Cluster of 6 nodes on 21001-21006 (cluster bus 31001-31006).
test-cluster: venv
	@started=0; \
	if ! $(DRIFTLINE) stack status --quiet; then $(DRIFTLINE) stack up || exit 1; started=1; fi; \
	$(BIN)/python -m pytest -m cluster $(PYTEST_ARGS); rc=$$?; \
	if [ $$started = 1 ]; then $(DRIFTLINE) stack down; fi; \
	exit $$rc

test-unit: venv
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

demo: venv
	$(DRIFTLINE) demo

bench-score: venv
	$(BIN)/python -m bench.score

# End to end on the local stack (starts it if needed), in one run: the ceilings (Kafka's own consumer on the same
# topic, redis-benchmark doing the worker's write), drain rates of one and two workers, a worker's cold start,
# latency at 1,000, 5,000 and 20,000 records/s, memory after a soak; each beside its target.
bench-stream: venv
	$(BIN)/python -m bench.stream

# HTTP scoring: requests/s and p99 at concurrency 1, 32 and 256, driftline serve (batched) beside a per-request
# model.predict baseline behind the same aiohttp front.
bench-serve: venv
	$(BIN)/python -m bench.serve

bench: bench-score bench-stream bench-serve

# The closed loop on the local stack: false alerts over a long stationary run, then onset → alert → promotion → swap.
bench-loop: venv
	$(BIN)/python -m bench.loop

clean:
	rm -rf $(VENV) .driftline .pytest_cache
