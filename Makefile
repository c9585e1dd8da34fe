# `make run` serves on $(PORT); `make test` lints, type-checks and runs the tests;
# `make bench` writes bench/RESULTS.md (needs wrk: apt-get install wrk).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint-docker bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt requirements-local.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-local.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-local.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

$(VENV)/.bench: requirements.txt requirements-local.txt requirements-dev.txt requirements-bench.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@ $(VENV)/.dev $(VENV)/.runtime

run: $(VENV)/.runtime
	$(BIN)/python -m app.serve

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint-docker: $(VENV)/.dev
	$(BIN)/hadolint Dockerfile
	npx --yes dclint@3.1.0 docker-compose.yml docker-compose.citus.yml
	# The image's dependencies: requirements.txt alone, in a venv of its own, runs the app.
	rm -rf $(VENV)-image && $(PYTHON) -m venv $(VENV)-image
	$(VENV)-image/bin/pip install --quiet -r requirements.txt
	$(VENV)-image/bin/python -c "import app.main, app.rebuild, app.serve, app.schema as m; \
		assert m.head_revision()"
	rm -rf $(VENV)-image

bench: $(VENV)/.bench
	$(BIN)/python -m bench.run
