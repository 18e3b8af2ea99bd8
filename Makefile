# Cutroom: `make run` to start it on this machine, `make test` to test it.
# Needs only GNU make, python3 >= 3.11 and a C compiler (Linux or macOS).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Programs some features and tests use when present; the app and tests cope
# without them (imageio-ffmpeg's ffmpeg; tests that need the others skip).
SYSTEM_DEPS := ffmpeg espeak-ng chromium melt

.DEFAULT_GOAL := help
.PHONY: help install run test lint format bench system-deps clean

help:
	@echo "Cutroom make targets:"
	@echo "  make run          create .venv, install, start Redis (if none answers), workers and web; prints the URL"
	@echo "  make test         install, add system tools if possible, run the test suite"
	@echo "  make bench        benchmarks against peer tools (installs them into bench/.venv)"
	@echo "  make lint         ruff check + ruff format --check"
	@echo "  make format       ruff format (rewrites files)"
	@echo "  make install      only create/update .venv"
	@echo "  make system-deps  apt-get install missing $(SYSTEM_DEPS) (Linux, as root); else a note"
	@echo "  make clean        remove .venv and caches (keeps instance/ and media/)"
	@echo "Variables: PYTHON=$(PYTHON)  PORT, REDIS_URL, ... (see README)"

install: $(STAMP)

# Re-created when either requirements file changes. An existing .venv is
# reused, never re-created over (that could pair it with another Python).
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "Cutroom needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1 || echo missing)."; \
	  echo "Install one and run e.g.: make $(MAKECMDGOALS) PYTHON=python3.12"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt -r requirements-dev.txt
	@touch $@

run: $(STAMP)
	$(PY) run.py

test: $(STAMP) system-deps
	$(PY) -m pytest -q

# Benchmarks against peer tools (not tests): see bench/run.py and the README's Performance section.
bench: $(STAMP) system-deps
	$(PY) bench/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .

# Linux as root with apt-get: install what is missing (apt-get update only if
# something is). Anywhere else, or if apt-get fails (offline), say so and go on.
system-deps:
	@missing=""; \
	for cmd in $(SYSTEM_DEPS); do command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$cmd"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "system-deps: apt-get install$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get update -qq && apt-get install -y --no-install-recommends $$missing; } \
	  || echo "note: apt-get could not install$$missing; continuing (ffmpeg falls back to imageio-ffmpeg; tests needing espeak-ng/chromium/melt skip)."; \
	else \
	  echo "note: not found:$$missing (install them yourself for full coverage); continuing: ffmpeg falls back to imageio-ffmpeg, tests needing espeak-ng/chromium/melt skip."; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
