# Developer entry points. `make run` brings the whole stack up; `make test` is
# what CI runs (through .ci/run).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# Targets chain (setup -> migrate -> seed -> train -> run); never run them side by side.
.NOTPARALLEL:

# Rasa phones home unless told not to; the environment can still say otherwise.
export RASA_TELEMETRY_ENABLED ?= false

UV := scripts/uv

.PHONY: help setup lock train migrate seed run lint test chromium bench nlu-report rasa-test clean distclean

help:
	@echo "make setup      create/refresh .venv (app) and .venv-rasa (Rasa) from the lock files"
	@echo "make lock       re-resolve requirements.lock and bot/requirements.lock"
	@echo "make train      train the Rasa model (cached by a fingerprint of bot/ and data/)"
	@echo "make migrate    apply database migrations"
	@echo "make seed       load the demo clinic into an empty database"
	@echo "make run        all of the above, then start every process (Ctrl-C stops them)"
	@echo "make lint       ruff (lint and format check) and mypy, as configured in pyproject.toml"
	@echo "make test       lint, then the test suite (plus a SQLite pass when DATABASE_URL is another database)"
	@echo "make bench      benchmarks against the real stack (bench/results.json, bench/results.md)"
	@echo "make nlu-report NLU cross-validation: intent F1 per intent (reports/nlu/)"
	@echo "make rasa-test  rasa data validate + rasa test core on tests/rasa/test_stories.yml"
	@echo "make clean      remove models, var/ and caches; distclean also removes the venvs"

setup:
	scripts/setup

lock:
	$(UV) pip compile pyproject.toml --extra dev -o requirements.lock \
		--python-version 3.11 --custom-compile-command "make lock"
	$(UV) pip compile bot/requirements.in -o bot/requirements.lock \
		--python-version 3.10 --custom-compile-command "make lock"

train: setup
	scripts/train

migrate: setup
	mkdir -p var
	.venv/bin/relay migrate

seed: setup
	mkdir -p var
	.venv/bin/relay seed-demo --if-empty

run: setup migrate seed train
	scripts/run

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

# Lint first: it takes seconds. The first pass uses whatever DATABASE_URL /
# REDIS_URL the environment gives (CI: PostgreSQL and Redis). When that database
# is not SQLite, a second pass with DATABASE_URL unset keeps the default SQLite
# path tested too. The browser tests drive Debian's Chromium: `chromium` installs
# the package when it is missing and this runs as root (CI's fresh machine), and
# otherwise stops with the command to run.
# Browser tests without the bot run once, in the SQLite pass: the configuration
# `make run` gives a clinic trying Relay, where a live server's concurrent
# requests meet SQLite's locking; the console's TestClient tests cover both
# databases.
test: lint train chromium
	@if [[ -n "$${DATABASE_URL:-}" && "$${DATABASE_URL}" != sqlite* ]]; then \
		.venv/bin/pytest -m "not browser or rasa"; \
		echo "== second pass on SQLite: env -u DATABASE_URL .venv/bin/pytest -m 'not rasa and not bench' -q"; \
		env -u DATABASE_URL .venv/bin/pytest -m "not rasa and not bench" -q; \
	else \
		.venv/bin/pytest; \
	fi

chromium:
	scripts/ensure-chromium

# The real stack; issue 14's turn figures run on SQLite and again on PostgreSQL when one answers
# (BENCH_DATABASES, BENCH_POSTGRES_URL), and py-spy samples Rasa and the action server (it needs
# ptrace: root, or CAP_SYS_PTRACE). Shorter runs and each part alone: bench/run.py's docstring.
bench: setup train
	.venv/bin/python -m bench.run

nlu-report: setup
	scripts/nlu-report

rasa-test: train
	.venv-rasa/bin/rasa data validate --domain bot/intents --data data --config bot/config.yml
	.venv-rasa/bin/rasa test core --stories tests/rasa/test_stories.yml --model models --out reports/core

clean:
	rm -rf models var reports .rasa .pytest_cache .hypothesis build
	find . \( -path ./.venv -o -path ./.venv-rasa -o -path ./.venv-tools -o -path ./.git \) -prune \
		-o \( -name __pycache__ -o -name '*.egg-info' \) -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf .venv .venv-rasa .venv-tools
