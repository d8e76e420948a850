# Two commands: `make run` (set up and serve a demo) and `make test` (lint, types and the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000

.PHONY: run test install lint typecheck browser clean image

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

config.toml: | $(STAMP)
	$(BIN)/moderation init-config --demo --port $(PORT)

# `make run PORT=8080` serves on another port (a config.toml written for another port is
# rewritten by `moderation init-config --demo --port 8080 --force`; the demo page says so).
run: install config.toml
	$(BIN)/moderation db upgrade
	@echo "moderation: demo page at http://127.0.0.1:$(PORT)/demo/ (Ctrl-C stops)"
	@echo "moderation: dashboard at http://127.0.0.1:$(PORT)/moderate/ once you have an account:"
	@echo "            $(BIN)/moderation moderators add you@example.org --role admin"
	$(BIN)/moderation serve --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Browser tests drive Debian's chromium; install it when missing and we may (root, apt-get present).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: browser tests will be reported as skipped"; fi; \
	fi

# The suite runs on SQLite and, when reachable, on PostgreSQL (the header line of pytest's
# output says which; MODERATION_REQUIRE_POSTGRES=1 makes an unreachable server an error).
# Every test has a time limit (pytest-timeout); coverage (branches included) ends the output.
# Two workers (pytest-xdist), each test file on one of them (its module fixtures built once);
# `make test WORKERS=0` runs in one process.
WORKERS ?= 2
test: lint typecheck browser
	$(PY) -m pytest -q $(if $(filter-out 0,$(WORKERS)),-n $(WORKERS) --dist loadfile) --cov --cov-report=term $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .coverage

# `make image` builds the container image (Containerfile; docs/operations.md, "Container") with
# podman, in Docker's format so that its HEALTHCHECK is kept; `make image BASE=...` builds on
# another Python base image.
image:
	podman build --format docker $(if $(BASE),--build-arg BASE=$(BASE)) -f Containerfile -t moderation:latest .
