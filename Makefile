# Everything runs inside .venv, created on first use with the system python3.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

.env:
	cp .env.example .env
	@echo "Created .env from .env.example: fill in BOT_TOKEN, TELEGRAM_API_ID,"
	@echo "TELEGRAM_API_HASH, ADMIN_IDS and SESSION_KEYS (make a key with"
	@echo "'$(BIN)/tg-parser keygen'), then run 'make run' again."

# `check` refuses an unfilled or invalid configuration before anything starts.
run: $(VENV)/.installed .env
	$(BIN)/tg-parser check
	$(BIN)/tg-parser run

test: $(VENV)/.installed-test
	$(BIN)/pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check app bot parser db tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV)
