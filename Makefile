# interaction-streams: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
CLI := $(BIN)/interaction-streams

.PHONY: install kafka-jars run test lint typecheck unit clean rules promtool

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing interaction-streams and its test tools into $(VENV) ..."
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $@

# Apache Kafka's jars from Maven Central, into ~/.cache/interaction-streams (outside the repo).
kafka-jars: install
	@$(BIN)/python -c 'from interaction_streams.localkafka import ensure_jars, kafka_version; \
	print("Apache Kafka", kafka_version(), "jars in", ensure_jars())'

# The demo: a local Kafka, the topics, a worker, a sample with a malformed event and a duplicate.
run: install kafka-jars
	@$(CLI) demo

lint: install
	$(BIN)/ruff check interaction_streams tests
	$(BIN)/ruff format --check interaction_streams tests

typecheck: install
	$(BIN)/mypy interaction_streams tests

unit: install
	$(BIN)/pytest -q tests/unit

# Prometheus alert rules: checked and unit-tested with promtool (Debian's prometheus package,
# installed when promtool is missing; only promtool is used, the daemon is kept stopped).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
rules:
	@command -v promtool >/dev/null || $(MAKE) --no-print-directory promtool
	promtool check rules deploy/prometheus/alerts.yml
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/alerts_test.yml

promtool:
	@echo "promtool is missing: installing Debian's prometheus package ..."
	@export DEBIAN_FRONTEND=noninteractive; \
	$(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update -qq && \
		     $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@# where an init system started the package's daemon, stop it and keep it off
	@if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then \
		$(SUDO) systemctl disable --now prometheus; fi
	@if command -v service >/dev/null && service prometheus status >/dev/null 2>&1; then \
		$(SUDO) service prometheus stop; fi
	@promtool --version | head -n 1

# Lint, types, then every test against one real broker: KAFKA_BOOTSTRAP_SERVERS if set,
# else a local Apache Kafka started here and stopped at the end whatever happens.
test: install kafka-jars lint typecheck rules
	@if [ -n "$$KAFKA_BOOTSTRAP_SERVERS" ]; then \
		echo "Using the Kafka at $$KAFKA_BOOTSTRAP_SERVERS"; \
		$(BIN)/pytest; exit $$?; \
	fi; \
	work=$$(mktemp -d); \
	trap '$(CLI) kafka stop --state-file "$$work/state.json" >/dev/null; rm -rf "$$work"' EXIT; \
	$(CLI) kafka start --state-file "$$work/state.json" --data-dir "$$work/data" > "$$work/out" \
		|| { cat "$$work/out"; exit 2; }; \
	head -n -1 "$$work/out"; \
	KAFKA_BOOTSTRAP_SERVERS=$$(tail -n 1 "$$work/out") $(BIN)/pytest

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache .hypothesis

.PHONY: bench-context
# The customer-context benchmark (about 50 min here): 1,000,000 profiles then 200,000 business events through one
# worker (RocksDB), against a local Kafka (or KAFKA_BOOTSTRAP_SERVERS); figures printed and
# written to bench-results/context.json.
bench-context: install kafka-jars
	$(BIN)/python -m interaction_streams.bench.context --load-budget 3600 --out bench-results/context.json

.PHONY: bench-routing
# Decision latency through the routing stage (one pool: 1,000 agents, 5,000 waiting; the stage
# in a worker of its own; about 2 min): figures printed and written to
# bench-results/routing-stage.json. BENCH_ROUTING_ARGS="--stages all": every stage in the worker.
BENCH_ROUTING_ARGS ?=
bench-routing: install kafka-jars
	$(BIN)/python -m interaction_streams.bench.routing_stage --cycles 1500 --out bench-results/routing-stage.json $(BENCH_ROUTING_ARGS)

.PHONY: bench-escalation
# How late escalation timers fire in live mode (about 1 min; needs KAFKA_BOOTSTRAP_SERVERS):
# figures printed and written to bench-results/escalation-latency.json.
bench-escalation: install
	$(BIN)/python -m interaction_streams.bench.escalation_latency --out bench-results/escalation-latency.json

.PHONY: bench
# The pipeline benchmark: sustained channel events/s with one and two workers, the raw aiokafka
# ceiling, latency p50/p95/p99 at fixed offered loads; bench-results/pipeline.json and .png.
# Options: make bench BENCH_ARGS="--contacts 20000 --loads 100,300,1000,3000 --step-seconds 30"
bench: install kafka-jars
	@$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/python -m pip install -q -e ".[bench]"
	$(CLI) bench $(BENCH_ARGS)
