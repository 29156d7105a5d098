# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Each set-up is redone only when pyproject.toml or its line here changes, so torch is installed once per .venv.
# `make demo` installs what the demo runs (torch, scikit-image); INSTALLED is everything the
# suite (benches included, at a tiny size), the type-check and the services need on top
# (TensorFlow, mypy, moto, schemathesis, litdata...).
DEMO_INSTALLED := $(VENV)/.installed-demo
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test services serve stop bench typecheck clean

$(VENV)/bin/uv:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv>=0.4,<1"

$(DEMO_INSTALLED): pyproject.toml Makefile | $(VENV)/bin/uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e ".[train,demo,arrays]"
	touch $@

$(INSTALLED): pyproject.toml Makefile | $(VENV)/bin/uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e ".[dev,train,tensorflow,demo,bench,arrays,masks]"
	touch $@

## demo: run the main job on the embedded default (no services needed)
demo: $(DEMO_INSTALLED)
	$(PY) -m examples.demo

## test: lint, type-check, check the layers, start PostgreSQL, Kafka and the S3 server, run the whole suite, stop them
test: $(INSTALLED)
	$(PY) -m ruff check
	$(PY) -m ruff format --check
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	@bash -c 'set -euo pipefail; trap "scripts/services.sh stop" EXIT; \
	  services=$$(scripts/services.sh start); eval "$$services"; \
	  ANNOLOG_REQUIRE_SERVICES=1 $(PY) -m pytest $(PYTEST_ARGS)'

## services: start the real services (idempotent) and print their URLs
services: $(INSTALLED)
	@scripts/services.sh start

## serve: start the whole server stack here (the services, annolog serve and annolog projector) and print its settings
serve: $(INSTALLED)
	@scripts/serve.sh start

## stop: stop what `make serve`, `make services` or `make test` started
stop:
	@scripts/serve.sh stop

## bench: run the benchmarks against the real services
bench: $(INSTALLED)
	@bash -c 'set -euo pipefail; services=$$(scripts/services.sh start); eval "$$services"; \
	  $(PY) -m bench.log_append; $(PY) -m bench.project --durable; $(PY) -m bench.slice; $(PY) -m bench.stream; \
	  $(PY) -m bench.ingest --durable; $(PY) -m bench.api; $(PY) -m bench.thumbnails'

typecheck: $(INSTALLED)
	$(PY) -m mypy

clean: stop
	rm -rf $(VENV) .services annolog-data
