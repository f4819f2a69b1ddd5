# Everything runs inside .venv, created on first use with the system python3.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint clean FORCE

# A Python older than 3.11 is refused before a .venv is made; a .venv that no longer
# runs (made by an older Python, or moved) or is not a virtualenv (its creation cut
# short: no pyvenv.cfg, pip would install into the system's Python) is made again.
$(VENV)/pyvenv.cfg: FORCE
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { \
	    echo "tg-parser needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) -V 2>&1)."; \
	    echo "Install it and run: make run PYTHON=python3.11"; exit 1; }
	@if [ ! -f $(VENV)/pyvenv.cfg ] || ! $(BIN)/python -c \
	    'import sys; sys.exit(0 if sys.version_info >= (3, 11) and sys.prefix != sys.base_prefix else 1)' \
	    2>/dev/null; then if [ -e $(VENV) ]; then \
	    echo "Recreating $(VENV): not a working Python 3.11+ virtualenv"; fi; \
	    rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && \
	    $(BIN)/python -m pip install --quiet --upgrade pip; fi

FORCE:

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml $(VENV)/pyvenv.cfg
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/pyvenv.cfg
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

.env:
	cp .env.example .env
	@echo "Created .env from .env.example: fill in BOT_TOKEN, TELEGRAM_API_ID,"
	@echo "TELEGRAM_API_HASH, ADMIN_IDS and SESSION_KEYS (make a key with"
	@echo "'$(BIN)/tg-parser keygen'), then run 'make run' again."
	@echo "(tg-parser lives in $(BIN)/: run it as $(BIN)/tg-parser, or activate the"
	@echo " virtualenv first with '. $(BIN)/activate')"

# `check` refuses an unfilled or invalid configuration before anything starts.
run: $(VENV)/.installed .env
	$(BIN)/tg-parser check
	$(BIN)/tg-parser run

test: $(VENV)/.installed-test
	$(BIN)/pytest -q -n auto --dist loadgroup

lint: $(VENV)/.installed-test
	$(BIN)/ruff check app bot core db parser services tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV)
